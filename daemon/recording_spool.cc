#include "daemon/recording_spool.h"

#include <algorithm>
#include <chrono>

#include "common/strings.h"
#include "daemon/log.h"

namespace warden {
namespace {

// What an event costs in the raw stream: its data, or roughly its encoded size for the rest.
size_t RawSize(const RecordingEvent& ev) {
  constexpr size_t kFixed = 16;  // offset, terminal, numbers and tags
  if (const auto* o = std::get_if<TerminalOutput>(&ev.kind)) return o->data.size();
  if (const auto* i = std::get_if<TerminalInput>(&ev.kind)) return i->data.size();
  if (const auto* x = std::get_if<ExecEvent>(&ev.kind)) {
    size_t n = kFixed + x->filename.size() + x->cwd.size();
    for (const std::string& a : x->argv) n += a.size() + 2;
    return n;
  }
  if (const auto* l = std::get_if<RedactedLine>(&ev.kind))
    return kFixed + l->comm.size() + l->exe.size();
  if (const auto* a = std::get_if<SessionAlert>(&ev.kind))
    return kFixed + a->kind.size() + a->message.size();
  if (const auto* r = std::get_if<ScreenRect>(&ev.kind)) return kFixed + r->pixels_zstd.size();
  return kFixed;
}

// The chunk's events with every byte of screen (terminal output, RDP pixels) and keystroke data
// replaced by a gap marker of the same size; execs and resizes are kept. Returns the bytes
// withheld.
uint64_t StripData(std::vector<RecordingEvent>& events) {
  std::vector<RecordingEvent> out;
  uint64_t dropped = 0;
  for (RecordingEvent& ev : events) {
    const auto* o = std::get_if<TerminalOutput>(&ev.kind);
    const auto* i = std::get_if<TerminalInput>(&ev.kind);
    const auto* r = std::get_if<ScreenRect>(&ev.kind);
    if (!o && !i && !r) {
      out.push_back(std::move(ev));
      continue;
    }
    const uint64_t n = o ? o->data.size() : i ? i->data.size() : r->pixels_zstd.size();
    dropped += n;
    if (!out.empty()) {
      if (auto* last = std::get_if<DataGap>(&out.back().kind)) {
        last->bytes += n;
        continue;
      }
    }
    out.push_back({.offset_ns = ev.offset_ns, .terminal = 0, .kind = DataGap{n}});
  }
  events = std::move(out);
  return dropped;
}

}  // namespace

void RecordingSpool::Open(const std::string& id, SessionInfo info, int64_t start_mono_ns,
                          bool strict) {
  std::lock_guard lock(mu_);
  Session& s = sessions_[id];
  s.info = std::move(info);
  s.start_mono_ns = start_mono_ns;
  s.strict = strict;
  // The first chunk announces the session to the controller at once, before any output: it is
  // listed as live and can be joined (a four-eyes session waits for that).
  CutLocked(id, s, false, 0, 0);
}

std::vector<std::string> RecordingSpool::TakeOverflowed() {
  std::lock_guard lock(mu_);
  return std::exchange(overflowed_, {});
}

void RecordingSpool::Add(const std::string& id, int64_t mono_ns, KernelLosses lost,
                         RecordingEvent ev) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second.closed) return;
  Session& s = it->second;
  const int64_t offset = std::max<int64_t>(0, mono_ns - s.start_mono_ns);
  if (s.pending.empty()) s.oldest_mono_ns = mono_ns;
  MarkLossLocked(id, s, offset, lost);
  ev.offset_ns = offset;
  s.pending_raw += RawSize(ev);
  s.pending.push_back(std::move(ev));
  if (s.pending_raw >= limits_.chunk_raw_bytes) CutLocked(id, s, false, 0, 0);
}

void RecordingSpool::NoteLosses(const std::string& id, int64_t mono_ns, KernelLosses lost) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second.closed) return;
  Session& s = it->second;
  if (lost.bytes <= s.lost_seen.bytes && lost.events <= s.lost_seen.events) return;
  if (s.pending.empty()) s.oldest_mono_ns = mono_ns;
  MarkLossLocked(id, s, std::max<int64_t>(0, mono_ns - s.start_mono_ns), lost);
}

void RecordingSpool::Close(const std::string& id, int64_t mono_ns, int64_t ended_unix_ns,
                           KernelLosses lost) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second.closed) return;
  Session& s = it->second;
  MarkLossLocked(id, s, std::max<int64_t>(0, mono_ns - s.start_mono_ns), lost);
  CutLocked(id, s, true, ended_unix_ns, lost.bytes);
  sessions_.erase(it);
}

std::optional<SpoolSession> RecordingSpool::Suspend(const std::string& id, int64_t mono_ns,
                                                    KernelLosses lost) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second.closed) return std::nullopt;
  Session& s = it->second;
  MarkLossLocked(id, s, std::max<int64_t>(0, mono_ns - s.start_mono_ns), lost);
  if (!s.pending.empty()) CutLocked(id, s, false, 0, 0);
  SpoolSession out{.id = id,
                   .info = s.info,
                   .start_mono_ns = s.start_mono_ns,
                   .seq = s.seq,
                   .strict = s.strict,
                   .dropped = s.dropped};
  sessions_.erase(it);
  return out;
}

void RecordingSpool::Resume(SpoolSession saved) {
  std::lock_guard lock(mu_);
  Session& s = sessions_[saved.id];
  s.info = std::move(saved.info);
  s.start_mono_ns = saved.start_mono_ns;
  s.seq = saved.seq;
  s.strict = saved.strict;
  s.dropped = saved.dropped;
  // The kernel's loss counters start again with the new capture.
  s.lost_seen = {};
}

std::vector<RecordingChunk> RecordingSpool::TakeUnacked() {
  std::lock_guard lock(mu_);
  std::vector<RecordingChunk> out;
  for (Queued& q : queue_) out.push_back(std::move(q.chunk));
  queue_.clear();
  queued_bytes_ = 0;
  return out;
}

void RecordingSpool::Requeue(std::vector<RecordingChunk> chunks) {
  std::lock_guard lock(mu_);
  for (RecordingChunk& c : chunks) {
    queued_bytes_ += c.events_zstd.size();
    queue_.push_back({.chunk = std::move(c), .sent = false});
  }
  cv_.notify_all();
}

void RecordingSpool::Note(const std::string& id, int64_t mono_ns, RecordingEvent ev) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second.closed) return;
  Session& s = it->second;
  if (s.pending.empty()) s.oldest_mono_ns = mono_ns;
  ev.offset_ns = std::max<int64_t>(0, mono_ns - s.start_mono_ns);
  s.pending_raw += RawSize(ev);
  s.pending.push_back(std::move(ev));
}

void RecordingSpool::MarkLossLocked(const std::string& id, Session& s, int64_t offset_ns,
                                    KernelLosses lost) {
  if (lost.bytes > s.lost_seen.bytes) {
    const uint64_t n = lost.bytes - s.lost_seen.bytes;
    s.pending.push_back({.offset_ns = offset_ns, .terminal = 0, .kind = DataGap{n}});
    s.lost_seen.bytes = lost.bytes;
    LogLine(LOG_ALERT, StrCat("recording of session ", id, ": ", n,
                              " bytes lost in the kernel (ring buffer full); marked as a gap"));
  }
  if (lost.events > s.lost_seen.events) {
    const uint64_t n = lost.events - s.lost_seen.events;
    s.pending.push_back({.offset_ns = offset_ns, .terminal = 0, .kind = LostEvents{n}});
    s.lost_seen.events = lost.events;
    LogLine(LOG_ALERT, StrCat("recording of session ", id, ": ", n,
                              " events (programs run, resizes, redaction markers) lost in the "
                              "kernel (ring buffer full); marked in the recording"));
  }
}

void RecordingSpool::Flush(int64_t mono_ns) {
  std::lock_guard lock(mu_);
  for (auto& [id, s] : sessions_) {
    if (!s.pending.empty() && mono_ns - s.oldest_mono_ns >= limits_.chunk_interval_ns) {
      CutLocked(id, s, false, 0, 0);
    }
  }
}

void RecordingSpool::CutLocked(const std::string& id, Session& s, bool final, int64_t ended_unix_ns,
                               uint64_t lost) {
  Queued q;
  RecordingChunk& c = q.chunk;
  c.session_id = id;
  c.seq = ++s.seq;
  if (s.seq == 1) c.session = s.info;
  absl::StatusOr<std::string> packed = encode_(s.pending);
  const bool over = packed.ok() && queued_bytes_ + packed->size() > limits_.max_unacked_bytes;
  if (over && s.strict) {
    // Strict: nothing is given up; the session is ended instead (TakeOverflowed). What it
    // produces until then is still queued.
    if (!s.overflowed) {
      s.overflowed = true;
      overflowed_.push_back(id);
      LogLine(LOG_ALERT, StrCat("recording of session ", id, " cannot be delivered (",
                                queued_bytes_ >> 20, " MiB unacknowledged by the controller); "
                                "strict recording: ending the session"));
    }
  } else if (!packed.ok() || over) {
    // The controller is not keeping up (or away) and the host's memory bound is reached: keep
    // the sequence and the timeline, give up the data, say so.
    const uint64_t n = StripData(s.pending);
    s.dropped += n;
    dropped_bytes_ += n;
    LogLine(LOG_ALERT, StrCat("recording of session ", id, ": ", n,
                              " bytes not kept (", queued_bytes_ >> 20,
                              " MiB unacknowledged by the controller); marked as a gap"));
    packed = encode_(s.pending);
  }
  if (packed.ok()) c.events_zstd = std::move(*packed);
  if (final) {
    c.final = true;
    c.ended_unix_ns = ended_unix_ns;
    c.lost_bytes = lost + s.dropped;
  }
  s.pending.clear();
  s.pending_raw = 0;
  queued_bytes_ += c.events_zstd.size();
  queue_.push_back(std::move(q));
  cv_.notify_all();
}

std::vector<RecordingChunk> RecordingSpool::Next(int timeout_ms) {
  std::unique_lock lock(mu_);
  auto unsent = [&] {
    for (const Queued& q : queue_) {
      if (!q.sent) return true;
    }
    return false;
  };
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), unsent);
  std::vector<RecordingChunk> out;
  for (Queued& q : queue_) {
    if (q.sent) continue;
    q.sent = true;
    out.push_back(q.chunk);
  }
  return out;
}

void RecordingSpool::Rewind() {
  std::lock_guard lock(mu_);
  for (Queued& q : queue_) q.sent = false;
}

void RecordingSpool::Ack(const std::string& id, uint64_t seq) {
  std::lock_guard lock(mu_);
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->chunk.session_id == id && it->chunk.seq == seq) {
      queued_bytes_ -= it->chunk.events_zstd.size();
      queue_.erase(it);
      return;
    }
  }
}

bool RecordingSpool::Idle() {
  std::lock_guard lock(mu_);
  return sessions_.empty() && queue_.empty();
}

void RecordingSpool::Wake() { cv_.notify_all(); }

size_t RecordingSpool::unacked_bytes() {
  std::lock_guard lock(mu_);
  return queued_bytes_;
}

uint64_t RecordingSpool::dropped_bytes() {
  std::lock_guard lock(mu_);
  return dropped_bytes_;
}

}  // namespace warden
