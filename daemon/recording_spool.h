// wardend's half of session recording, the memory side: a recorded session's events become
// sequenced, encoded chunks held in memory (never on the host's disk) until the controller
// acknowledges them; resent after a reconnect; bounded per host (beyond the bound a chunk's data
// becomes a gap marker). The kernel side that feeds it is session_recorder.h.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "daemon/kernel_recorder.h"
#include "daemon/recording_event.h"

namespace warden {

struct SpoolLimits {
  size_t chunk_raw_bytes = 256 << 10;  // cut a chunk once this much data is pending
  int64_t chunk_interval_ns = 200'000'000;  // ... or its oldest event is this old
  size_t max_unacked_bytes = 64 << 20;  // per host, compressed
};

// A session's place in its recording, handed from one run of wardend to the next.
struct SpoolSession {
  std::string id;
  SessionInfo info;
  int64_t start_mono_ns = 0;
  uint64_t seq = 0;  // the last chunk cut
  bool strict = false;
  uint64_t dropped = 0;
};

class RecordingSpool {
 public:
  // `encode` turns a chunk's events into its payload (proto_convert.h's EncodeRecordingEvents).
  explicit RecordingSpool(EncodeEvents encode, SpoolLimits limits = {})
      : encode_(std::move(encode)), limits_(limits) {}

  // `strict`: when the memory bound is reached the session's data is kept and the session is
  // reported by TakeOverflowed (to be ended) instead of turning into a gap.
  void Open(const std::string& id, SessionInfo info, int64_t start_mono_ns, bool strict = false);
  // `lost` is the session's cumulative kernel losses before this event; an increase is recorded
  // as a gap (bytes) or a lost-events marker in front of it.
  void Add(const std::string& id, int64_t mono_ns, KernelLosses lost, RecordingEvent ev);
  // The kernel's counters read at `mono_ns` with no event to carry them: an increase is marked.
  void NoteLosses(const std::string& id, int64_t mono_ns, KernelLosses lost);
  // Queues the session's last chunk, final, with its total lost bytes.
  void Close(const std::string& id, int64_t mono_ns, int64_t ended_unix_ns, KernelLosses lost);
  // Cuts chunks for sessions whose pending events are due at `mono_ns`.
  void Flush(int64_t mono_ns);
  // wardend stopping: the session's pending events are cut as a chunk (not final) and the session
  // leaves the spool; returns its place (nullopt for a session the spool does not hold).
  std::optional<SpoolSession> Suspend(const std::string& id, int64_t mono_ns, KernelLosses lost);
  // The next run: the session goes on from its place, its next chunk numbered after the last.
  void Resume(SpoolSession s);
  // Every unacknowledged chunk, in order, taken out (to hand over); Requeue puts such chunks back
  // (unsent) in the next run.
  std::vector<RecordingChunk> TakeUnacked();
  void Requeue(std::vector<RecordingChunk> chunks);
  // Appends an event to a session's pending events (an alert of wardend's own).
  void Note(const std::string& id, int64_t mono_ns, RecordingEvent ev);
  // Strict sessions that reached the memory bound since the last call.
  std::vector<std::string> TakeOverflowed();

  // The uploader's side. Next() waits up to `timeout_ms` for chunks not yet sent on the current
  // connection and returns them in order; Rewind() makes every unacknowledged chunk unsent (a new
  // connection); Ack() releases a chunk.
  std::vector<RecordingChunk> Next(int timeout_ms);
  void Rewind();
  void Ack(const std::string& id, uint64_t seq);
  bool Idle();  // no open session and nothing unacknowledged
  void Wake();

  size_t unacked_bytes();
  uint64_t dropped_bytes();  // data replaced by gap markers because the bound was reached

 private:
  struct Session {
    SessionInfo info;
    int64_t start_mono_ns = 0;
    uint64_t seq = 0;
    KernelLosses lost_seen;
    uint64_t dropped = 0;  // bytes replaced by gaps here (memory bound)
    std::vector<RecordingEvent> pending;
    size_t pending_raw = 0;
    int64_t oldest_mono_ns = 0;
    bool closed = false;
    bool strict = false;
    bool overflowed = false;
  };
  struct Queued {
    RecordingChunk chunk;
    bool sent = false;
  };
  // REQUIRES: mu_ held. Gap / lost-events markers for the kernel's losses since the last ones.
  void MarkLossLocked(const std::string& id, Session& s, int64_t offset_ns, KernelLosses lost);
  // REQUIRES: mu_ held.
  void CutLocked(const std::string& id, Session& s, bool final, int64_t ended_unix_ns, uint64_t lost);

  const EncodeEvents encode_;
  const SpoolLimits limits_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Session> sessions_;
  std::deque<Queued> queue_;  // unacknowledged, in the order cut
  size_t queued_bytes_ = 0;
  uint64_t dropped_bytes_ = 0;
  std::vector<std::string> overflowed_;
};

}  // namespace warden
