// The kernel side of session recording: loads bpf/recorder.bpf.c, keeps its programs attached
// only while at least one session is being recorded (a host without one pays nothing), registers
// a session's process tree, and turns ring-buffer records into RecordingEvents.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <mutex>
#include <set>

#include "common/status.h"
#include "warden/v1/recording.pb.h"

struct recorder_bpf;
struct ring_buffer;

namespace warden {

enum class InputMode { kRedactSecrets = 0, kAll = 1, kOff = 2 };
absl::StatusOr<InputMode> ParseInputMode(std::string_view s);

// One captured event: `mono_ns` is CLOCK_MONOTONIC; `lost` the session's cumulative lost bytes
// before it (an increase since the previous event is a gap at this point).
using CapturedEvent =
    std::function<void(uint64_t session, uint64_t mono_ns, uint64_t lost, v1::RecordingEvent ev)>;

class Recorder {
 public:
  // Opens and loads (verifies) the programs without attaching them. Needs CAP_BPF/CAP_PERFMON
  // (root) and BTF.
  static absl::StatusOr<std::unique_ptr<Recorder>> Load(CapturedEvent sink);
  ~Recorder();

  // Starts recording the process `root` and every process it has or will fork. Attaches the
  // programs if this is the first session.
  absl::Status Begin(uint64_t session, pid_t root, InputMode mode);
  // Stops recording the session; returns its total lost bytes. Detaches after the last one.
  // Events already in the ring buffer are delivered by the next Poll.
  uint64_t End(uint64_t session);
  // Waits up to `timeout_ms` (less if a lot is queued), then delivers every ring-buffer record to
  // the sink.
  int Poll(int timeout_ms);
  bool attached();
  // The pty index the session's terminal is on (/dev/pts/N), or -1 before its first I/O.
  int Pts(uint64_t session);

 private:
  explicit Recorder(CapturedEvent sink) : sink_(std::move(sink)) {}
  static int OnRecord(void* ctx, void* data, size_t size);

  CapturedEvent sink_;
  recorder_bpf* skel_ = nullptr;
  ring_buffer* ring_ = nullptr;
  std::mutex mu_;
  std::set<uint64_t> sessions_;  // guarded by mu_
};

}  // namespace warden
