// The kernel side of session recording: loads bpf/recorder.bpf.c, keeps its programs attached
// only while at least one session is being recorded (a host without one pays nothing), registers
// a session's process tree, and turns ring-buffer records into RecordingEvents.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "common/status.h"
#include "daemon/recording_event.h"

struct recorder_bpf;
struct ring_buffer;
struct rec_redacted;

namespace warden {

enum class InputMode { kRedactSecrets = 0, kAll = 1, kOff = 2 };
// The role's recording.input: redact (default), full (the older spelling `all` is accepted), off.
absl::StatusOr<InputMode> ParseInputMode(std::string_view s);

// What the kernel could not put into the ring buffer, cumulative per session: bytes of screen
// and keystrokes, and other events (execs, resizes, redaction markers).
struct KernelLosses {
  uint64_t bytes = 0;
  uint64_t events = 0;
};

// One captured event: `mono_ns` is CLOCK_MONOTONIC; `lost` the session's cumulative losses
// before it (an increase since the previous event is a gap at this point).
using CapturedEvent = std::function<void(uint64_t session, uint64_t mono_ns, KernelLosses lost,
                                         RecordingEvent ev)>;

struct RecorderOptions {
  uint32_t ring_bytes = 16 << 20;  // the ring buffer's size: a power of 2, at least a page
};

class Recorder {
 public:
  // Opens and loads (verifies) the programs without attaching them. Needs CAP_BPF/CAP_PERFMON
  // (root) and BTF.
  static absl::StatusOr<std::unique_ptr<Recorder>> Load(CapturedEvent sink,
                                                        RecorderOptions options = {});
  ~Recorder();

  // Starts recording the process `root` and every process it has or will fork, and `also` with
  // theirs (a session taken up after a restart: what its cgroup holds, a daemon it started that
  // left root's tree included). Attaches the programs if this is the first session.
  absl::Status Begin(uint64_t session, pid_t root, InputMode mode,
                     const std::vector<pid_t>& also = {});
  // Stops recording the session; returns its total losses. Detaches after the last one.
  // Events already in the ring buffer are delivered by the next Poll.
  KernelLosses End(uint64_t session);
  // Drops what is kept of an ended session (the redacted line being typed, the lines counted)
  // once its last records have been delivered (a Poll after End): until then they still count.
  void Forget(uint64_t session);
  // The session's losses so far, as the kernel counts them now.
  KernelLosses Losses(uint64_t session);
  // Waits up to `timeout_ms` (less if a lot is queued), then delivers every ring-buffer record to
  // the sink.
  int Poll(int timeout_ms);
  bool attached();
  // The pty indexes (/dev/pts/N) of the session's terminals, in order: empty before its first I/O.
  std::vector<int> Terminals(uint64_t session);

 private:
  explicit Recorder(CapturedEvent sink) : sink_(std::move(sink)) {}
  static int OnRecord(void* ctx, void* data, size_t size);
  // A redacted piece of input; a piece that ends a line also becomes a RedactedLine event.
  void OnRedacted(const rec_redacted* r);

  CapturedEvent sink_;
  recorder_bpf* skel_ = nullptr;
  ring_buffer* ring_ = nullptr;
  std::mutex mu_;
  std::set<uint64_t> sessions_;  // guarded by mu_
  // Per session: redacted bytes of the line being typed on each terminal, and the number of
  // redacted lines so far. Guarded by mu_.
  struct Redaction {
    std::map<uint32_t, uint64_t> partial;
    uint32_t lines = 0;
  };
  std::map<uint64_t, Redaction> redaction_;
};

}  // namespace warden
