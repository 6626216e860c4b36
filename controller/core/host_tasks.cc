#include "controller/core/host_tasks.h"

#include "common/strings.h"
#include "common/totp.h"

namespace warden {

absl::Status HostTasks::Run(std::string_view host_id, HostTask task,
                            std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  if (!newest_.count(host_id))
    return absl::UnavailableError(StrCat("host ", host_id,
                                         " is not connected to the controller (is wardend "
                                         "running there, and enrolled?)"));
  std::string id = "task-" + RandomId(16);
  pending_[id] = Pending{std::string(host_id), std::move(task), State::kQueued, absl::OkStatus()};
  WakeLocked(lock, std::string(host_id));
  cv_.wait_until(lock, deadline, [&] { return pending_.at(id).state == State::kDone; });
  auto it = pending_.find(id);
  const State state = it->second.state;
  absl::Status result = it->second.result;
  pending_.erase(it);
  switch (state) {
    case State::kDone:
      return result;
    case State::kQueued:
      return absl::UnavailableError(
          StrCat("host ", host_id, " did not take the task within ", timeout.count() / 1000, " s"));
    case State::kSent:
      break;
  }
  return absl::DeadlineExceededError(StrCat("host ", host_id, " took the task but gave no answer within ",
                                            timeout.count() / 1000, " s: it may have been done"));
}

void HostTasks::WakeLocked(std::unique_lock<std::mutex>& lock, const std::string& host) {
  auto newest = newest_.find(host);
  if (newest == newest_.end()) return;
  const uint64_t id = newest->second;
  Stream& s = streams_.at(id);
  s.waking++;
  std::function<void()> wake = s.wake;
  lock.unlock();
  wake();
  lock.lock();
  streams_.at(id).waking--;  // Detach waits for this before it erases the stream
  cv_.notify_all();
}

uint64_t HostTasks::Attach(const std::string& host_id, std::function<void()> wake) {
  std::unique_lock lock(mu_);
  const uint64_t id = next_stream_++;
  streams_[id] = Stream{host_id, std::move(wake), 0, false};
  newest_[host_id] = id;
  // Tasks a stream that went away left queued go out on this one.
  WakeLocked(lock, host_id);
  return id;
}

void HostTasks::Detach(uint64_t stream) {
  std::unique_lock lock(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  const std::string host = it->second.host;
  it->second.closing = true;
  auto newest = newest_.find(host);
  if (newest != newest_.end() && newest->second == stream) {
    // An older stream of the host still open (and not closing too) takes over; else the host
    // is gone.
    newest_.erase(newest);
    for (const auto& [id, s] : streams_) {
      if (s.host == host && !s.closing) newest_[host] = id;
    }
  }
  cv_.wait(lock, [&] { return streams_.at(stream).waking == 0; });
  streams_.erase(stream);
  if (newest_.count(host)) {
    WakeLocked(lock, host);
    return;
  }
  for (auto& [id, p] : pending_) {
    if (p.host == host && p.state == State::kQueued) {
      p.state = State::kDone;
      p.result = absl::UnavailableError(StrCat("host ", host, " went away before it took the task"));
    }
  }
  cv_.notify_all();
}

std::optional<DispatchedTask> HostTasks::Next(uint64_t stream) {
  std::lock_guard lock(mu_);
  auto s = streams_.find(stream);
  if (s == streams_.end()) return std::nullopt;
  auto newest = newest_.find(s->second.host);
  if (newest == newest_.end() || newest->second != stream) return std::nullopt;
  for (auto& [id, p] : pending_) {
    if (p.host != s->second.host || p.state != State::kQueued) continue;
    p.state = State::kSent;
    return DispatchedTask{id, p.task.kind, p.task.login, SecretBytes(p.task.password.span())};
  }
  return std::nullopt;
}

absl::Status HostTasks::Finish(std::string_view host_id, std::string_view id, absl::Status result) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(id);
  if (it == pending_.end() || it->second.host != host_id || it->second.state != State::kSent)
    return absl::NotFoundError(StrCat("no task ", id, " of this host is waiting for an answer"));
  it->second.state = State::kDone;
  it->second.result = std::move(result);
  cv_.notify_all();
  return absl::OkStatus();
}

}  // namespace warden
