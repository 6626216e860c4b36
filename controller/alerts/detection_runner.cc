#include "controller/alerts/detection_runner.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>

#include "common/files.h"
#include "common/log.h"
#include "common/strings.h"

namespace warden {
namespace {

constexpr size_t kBatchLines = 1000;

}  // namespace

DetectionRunner::DetectionRunner(Detector& detector, std::string audit_path,
                                 std::string cursor_path, std::string windows_path,
                                 AuditLog& audit)
    : detector_(detector), audit_path_(std::move(audit_path)),
      cursor_path_(std::move(cursor_path)), windows_path_(std::move(windows_path)), audit_(audit) {}

DetectionRunner::~DetectionRunner() { Stop(); }

void DetectionRunner::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::Status DetectionRunner::LoadWindows(bool at_start) {
  if (windows_path_.empty()) return absl::OkStatus();
  struct stat st;
  if (stat(windows_path_.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(StrCat("detections.change_windows: ", windows_path_, ": ",
                                                strerror(errno)));
  }
  if (!at_start && st.st_mtim.tv_sec == windows_mtime_.tv_sec &&
      st.st_mtim.tv_nsec == windows_mtime_.tv_nsec)
    return absl::OkStatus();
  windows_mtime_ = st.st_mtim;
  ASSIGN_OR_RETURN(std::string text, ReadFile(windows_path_));
  absl::StatusOr<std::vector<ChangeWindow>> w = ParseChangeWindows(text);
  if (!w.ok())
    return absl::InvalidArgumentError(StrCat(windows_path_, ": ", w.status().message()));
  detector_.SetChangeWindows(std::move(*w));
  return absl::OkStatus();
}

absl::Status DetectionRunner::Start() {
  if (detector_.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(LoadWindows(true));
  ASSIGN_OR_RETURN(cursor_, LoadCursor(cursor_path_));
  // The rules' state (requests, approvals) from what was evaluated before: replayed, their
  // alerts written then already. Without a cursor (rules just turned on), the log as it stands
  // is the past: replayed for state, not alerted on.
  if (access(cursor_path_.c_str(), F_OK) != 0) cursor_.seq = UINT64_MAX;
  AuditTail tail(audit_path_);
  AuditCursor at;
  while (at.seq < cursor_.seq) {
    ASSIGN_OR_RETURN(std::vector<AuditLine> lines, tail.Read(at, kBatchLines));
    if (lines.empty()) break;
    for (const AuditLine& l : lines) {
      if (l.seq > cursor_.seq) break;
      detector_.Observe(nlohmann::json::parse(l.text, nullptr, false));
      at = l.end;
    }
  }
  cursor_ = at;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void DetectionRunner::Run() {
  AuditTail tail(audit_path_);
  std::unique_lock lock(mu_);
  std::string last_error;
  while (!stopping_) {
    const uint64_t seen = written_.load();
    lock.unlock();
    absl::Status st = LoadWindows(false);
    if (!st.ok() && std::string(st.message()) != last_error) {
      // Keeps the windows it had; said once per change of the file.
      WriteLogLine("warden-controller", LOG_ERR, StrCat("detections: ", st.message()));
      (void)audit_.Append({{"event", "detections.windows_invalid"}, {"alert", true},
                           {"severity", "warning"}, {"error", st.message()}});
    }
    last_error = st.ok() ? "" : std::string(st.message());
    // Alerts found but not yet written (the log refused them): written first, in order; the
    // event that raised them is not evaluated again (the rules have taken it in already).
    bool failed = false;
    auto write_pending = [&] {
      while (!pending_.empty()) {
        absl::StatusOr<uint64_t> written = audit_.Append(pending_.front().ToEvent());
        if (!written.ok()) {
          WriteLogLine("warden-controller", LOG_ERR,
                       StrCat("detections: alert ", pending_.front().rule->name, " on event ",
                              pending_end_.seq, " not written (retrying): ",
                              written.status().message()));
          return false;
        }
        pending_.erase(pending_.begin());
      }
      cursor_ = pending_end_;
      return true;
    };
    const uint64_t before = cursor_.seq;
    if (!pending_.empty()) failed = !write_pending();
    absl::StatusOr<std::vector<AuditLine>> lines =
        failed ? std::vector<AuditLine>{} : tail.Read(cursor_, kBatchLines);
    if (!lines.ok()) {
      failed = true;
      WriteLogLine("warden-controller", LOG_ERR, StrCat("detections: ", lines.status().message()));
    }
    for (size_t i = 0; lines.ok() && i < lines->size() && !failed; i++) {
      const AuditLine& l = (*lines)[i];
      pending_ = detector_.Observe(nlohmann::json::parse(l.text, nullptr, false));
      pending_end_ = l.end;
      failed = !write_pending();
    }
    if (cursor_.seq != before) {
      absl::Status saved = SaveCursor(cursor_path_, cursor_);
      if (!saved.ok()) WriteLogLine("warden-controller", LOG_ERR, StrCat("detections: ", saved.message()));
    }
    lock.lock();
    if (failed || lines->size() < kBatchLines)
      cv_.wait_for(lock, std::chrono::milliseconds(failed ? 1000 : 200),
                   [&] { return stopping_ || (!failed && written_.load() != seen); });
  }
}

}  // namespace warden
