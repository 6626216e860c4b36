// Work the controller hands to one enrolled host and waits for: setting and proving the
// password of a local account (kind linux in rotation_policy.h). Each host that is connected
// holds a task stream (HostService.Tasks); a task goes out on the host's newest stream once, and
// the host's answer (HostService.FinishTask) wakes whoever waits for it.
//
// What a caller learns when no answer comes matters to rotation: a task that never left the
// controller was certainly not done (UNAVAILABLE), while one the host took and did not answer
// may have been (DEADLINE_EXCEEDED), so a rotation keeps its new value pending.
//
// Thread-safe. The stream side (Attach/Next/Detach) is driven by the gRPC reactor of each
// stream; Run blocks its caller (the rotation thread) up to its timeout.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"

namespace warden {

struct HostTask {
  enum class Kind { kSetPassword, kCheckPassword };
  Kind kind = Kind::kCheckPassword;
  std::string login;     // a local account of the host
  SecretBytes password;  // wiped when the task is gone
};

// A task as the stream sends it.
struct DispatchedTask {
  std::string id;
  HostTask::Kind kind;
  std::string login;
  SecretBytes password;
};

class HostTasks {
 public:
  // Runs `task` on `host_id` and returns the host's answer. UNAVAILABLE: the host is not
  // connected, or went away before it took the task (not done). DEADLINE_EXCEEDED: the host took
  // it and gave no answer within `timeout` (it may be done).
  absl::Status Run(std::string_view host_id, HostTask task, std::chrono::milliseconds timeout);

  // A task stream of `host_id` opened; `wake` is called (never under this class's lock) when a
  // task may be waiting for it. Returns the stream's handle. The newest stream of a host is the
  // one tasks go to.
  uint64_t Attach(const std::string& host_id, std::function<void()> wake);
  // The stream closed: no `wake` call is running or will start once this returns. Tasks still
  // queued for its host fail (UNAVAILABLE) unless a newer stream of the host takes them.
  void Detach(uint64_t stream);
  // The next task for `stream` to send, if it is its host's newest stream and one is queued.
  std::optional<DispatchedTask> Next(uint64_t stream);
  // `host_id`'s answer to task `id`. NOT_FOUND when nobody waits for such a task of that host
  // (another host's task, one already answered, or one that timed out).
  absl::Status Finish(std::string_view host_id, std::string_view id, absl::Status result);

 private:
  enum class State { kQueued, kSent, kDone };
  struct Pending {
    std::string host;
    HostTask task;
    State state = State::kQueued;
    absl::Status result;
  };
  struct Stream {
    std::string host;
    std::function<void()> wake;
    int waking = 0;        // wake calls running
    bool closing = false;  // being detached: never chosen as its host's newest again
  };
  // Wakes `host`'s newest stream. REQUIRES: lock held; it is released during the call.
  void WakeLocked(std::unique_lock<std::mutex>& lock, const std::string& host);

  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_stream_ = 1;
  std::map<uint64_t, Stream> streams_;
  std::map<std::string, uint64_t, std::less<>> newest_;  // host -> its newest stream
  std::map<std::string, Pending, std::less<>> pending_;  // by task id
};

}  // namespace warden
