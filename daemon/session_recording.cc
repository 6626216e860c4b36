#include "daemon/session_recording.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "common/recording.h"
#include "common/strings.h"
#include "daemon/log.h"
#include "daemon/procfs.h"

namespace warden {
namespace {

int64_t ClockNs(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// What an event costs in the raw stream: its data, or roughly its size for the rest.
size_t RawSize(const v1::RecordingEvent& ev) {
  switch (ev.kind_case()) {
    case v1::RecordingEvent::kOutput:
      return ev.output().size();
    case v1::RecordingEvent::kInput:
      return ev.input().size();
    default:
      return ev.ByteSizeLong();
  }
}

// The chunk's events with every byte of screen and keystroke data replaced by a gap marker of
// the same size; execs and resizes are kept. Returns the bytes withheld.
uint64_t StripData(v1::RecordingEvents& events) {
  v1::RecordingEvents out;
  uint64_t dropped = 0;
  for (v1::RecordingEvent& ev : *events.mutable_events()) {
    if (ev.has_output() || ev.has_input()) {
      const uint64_t n = ev.has_output() ? ev.output().size() : ev.input().size();
      dropped += n;
      if (out.events_size() > 0 && out.events(out.events_size() - 1).has_gap()) {
        auto* last = out.mutable_events(out.events_size() - 1);
        last->set_gap(last->gap() + n);
        continue;
      }
      v1::RecordingEvent gap;
      gap.set_offset_ns(ev.offset_ns());
      gap.set_gap(n);
      *out.add_events() = std::move(gap);
      continue;
    }
    *out.add_events() = std::move(ev);
  }
  events = std::move(out);
  return dropped;
}

// The processes on terminal `fd` other than `root`, parents before children.
std::vector<pid_t> ProcessesOnTerminal(int fd, pid_t root) {
  struct stat st {};
  if (fd < 0 || fstat(fd, &st) != 0) return {};
  std::vector<ProcessInfo> all = ListProcesses();
  std::map<pid_t, pid_t> parent;
  for (const ProcessInfo& p : all) parent[p.pid] = p.ppid;
  auto depth = [&](pid_t pid) {
    int d = 0;
    for (auto it = parent.find(pid); it != parent.end() && d < 4096; it = parent.find(it->second)) ++d;
    return d;
  };
  std::vector<std::pair<int, pid_t>> on;
  for (const ProcessInfo& p : all) {
    if (p.tty == st.st_rdev && p.pid != root) on.emplace_back(depth(p.pid), p.pid);
  }
  std::sort(on.begin(), on.end());
  std::vector<pid_t> out;
  for (const auto& [d, pid] : on) out.push_back(pid);
  return out;
}

int OpenTerminal(int pts) {
  if (pts < 0) return -1;
  return open(StrCat("/dev/pts/", pts).c_str(), O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
}

// Writes `msg` on its own lines; the terminal may still hold a screenful of output the operator's
// client has not taken yet, so this waits up to 10 s for room.
void WriteToTerminal(int fd, const std::string& text) {
  const std::string msg = StrCat("\r\n", text, "\r\n");
  size_t sent = 0;
  for (int i = 0; i < 200 && sent < msg.size(); i++) {
    ssize_t n = write(fd, msg.data() + sent, msg.size() - sent);
    if (n > 0) sent += static_cast<size_t>(n);
    if (sent < msg.size()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// The session's terminals, open for writing, with the processes on each (parents first).
struct OpenTerminals {
  explicit OpenTerminals(const std::vector<int>& pts, pid_t root) {
    for (int n : pts) {
      const int fd = OpenTerminal(n);
      if (fd >= 0) fds.emplace_back(fd, ProcessesOnTerminal(fd, root));
    }
  }
  ~OpenTerminals() {
    for (const auto& [fd, procs] : fds) close(fd);
  }
  void Signal(int sig, bool children_first = false) {
    for (const auto& [fd, procs] : fds) {
      if (children_first) {
        for (auto it = procs.rbegin(); it != procs.rend(); ++it) kill(*it, sig);
      } else {
        for (pid_t pid : procs) kill(pid, sig);
      }
    }
  }
  void Write(const std::string& why) {
    for (const auto& [fd, procs] : fds) WriteToTerminal(fd, why);
  }
  std::vector<std::pair<int, std::vector<pid_t>>> fds;
};

// The processes on every terminal of the session are stopped, the operator is told why on each,
// and once sshd has had time to pass the message on they are killed: sshd sees the shells gone
// and closes the connection. Should the process that opened the session (sshd's monitor) still be
// there after a grace period (at once for a session without a terminal), it is told to end.
void EndSessionWithMessage(pid_t root, const std::vector<int>& pts, const std::string& why) {
  {
    OpenTerminals terms(pts, root);
    if (!terms.fds.empty()) {
      terms.Signal(SIGSTOP);
      terms.Write(why);
      std::this_thread::sleep_for(std::chrono::seconds(2));
      terms.Signal(SIGKILL);
      for (int i = 0; i < 100 && root > 1 && kill(root, 0) == 0; i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
  if (root > 1 && kill(root, 0) == 0) kill(root, SIGTERM);
}

// Pause: the processes on the session's terminals stop (parents first, so that a shell never sees
// its foreground job stop), then the operator is told why. Resume: told, then continued (children
// first).
void PauseTerminals(pid_t root, const std::vector<int>& pts, const std::string& why, bool pause) {
  OpenTerminals terms(pts, root);
  if (pause) {
    terms.Signal(SIGSTOP);
    terms.Write(why);
  } else {
    terms.Write(why);
    terms.Signal(SIGCONT, true);
  }
}

}  // namespace

int64_t MonotonicNs() { return ClockNs(CLOCK_MONOTONIC); }

void RecordingSpool::Open(const std::string& id, v1::SessionInfo info, int64_t start_mono_ns,
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
                         v1::RecordingEvent ev) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second.closed) return;
  Session& s = it->second;
  const int64_t offset = std::max<int64_t>(0, mono_ns - s.start_mono_ns);
  if (s.pending.events_size() == 0) s.oldest_mono_ns = mono_ns;
  MarkLossLocked(id, s, offset, lost);
  ev.set_offset_ns(offset);
  s.pending_raw += RawSize(ev);
  *s.pending.add_events() = std::move(ev);
  if (s.pending_raw >= limits_.chunk_raw_bytes) CutLocked(id, s, false, 0, 0);
}

void RecordingSpool::NoteLosses(const std::string& id, int64_t mono_ns, KernelLosses lost) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second.closed) return;
  Session& s = it->second;
  if (lost.bytes <= s.lost_seen.bytes && lost.events <= s.lost_seen.events) return;
  if (s.pending.events_size() == 0) s.oldest_mono_ns = mono_ns;
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

void RecordingSpool::MarkLossLocked(const std::string& id, Session& s, int64_t offset_ns,
                                    KernelLosses lost) {
  if (lost.bytes > s.lost_seen.bytes) {
    v1::RecordingEvent* gap = s.pending.add_events();
    gap->set_offset_ns(offset_ns);
    gap->set_gap(lost.bytes - s.lost_seen.bytes);
    s.lost_seen.bytes = lost.bytes;
    LogLine(LOG_ALERT, StrCat("recording of session ", id, ": ", gap->gap(),
                              " bytes lost in the kernel (ring buffer full); marked as a gap"));
  }
  if (lost.events > s.lost_seen.events) {
    v1::RecordingEvent* gap = s.pending.add_events();
    gap->set_offset_ns(offset_ns);
    gap->set_lost_events(lost.events - s.lost_seen.events);
    s.lost_seen.events = lost.events;
    LogLine(LOG_ALERT, StrCat("recording of session ", id, ": ", gap->lost_events(),
                              " events (programs run, resizes, redaction markers) lost in the "
                              "kernel (ring buffer full); marked in the recording"));
  }
}

void RecordingSpool::Flush(int64_t mono_ns) {
  std::lock_guard lock(mu_);
  for (auto& [id, s] : sessions_) {
    if (s.pending.events_size() > 0 && mono_ns - s.oldest_mono_ns >= limits_.chunk_interval_ns) {
      CutLocked(id, s, false, 0, 0);
    }
  }
}

void RecordingSpool::CutLocked(const std::string& id, Session& s, bool final, int64_t ended_unix_ns,
                               uint64_t lost) {
  Queued q;
  v1::RecordingChunk& c = q.chunk;
  c.set_session_id(id);
  c.set_seq(++s.seq);
  if (s.seq == 1) *c.mutable_session() = s.info;
  auto packed = CompressEvents(s.pending);
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
    packed = CompressEvents(s.pending);
  }
  if (packed.ok()) c.set_events_zstd(packed->data(), packed->size());
  if (final) {
    c.set_final(true);
    c.set_ended_unix_ns(ended_unix_ns);
    c.set_lost_bytes(lost + s.dropped);
  }
  s.pending.Clear();
  s.pending_raw = 0;
  queued_bytes_ += c.events_zstd().size();
  queue_.push_back(std::move(q));
  cv_.notify_all();
}

std::vector<v1::RecordingChunk> RecordingSpool::Next(int timeout_ms) {
  std::unique_lock lock(mu_);
  auto unsent = [&] {
    for (const Queued& q : queue_) {
      if (!q.sent) return true;
    }
    return false;
  };
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), unsent);
  std::vector<v1::RecordingChunk> out;
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
    if (it->chunk.session_id() == id && it->chunk.seq() == seq) {
      queued_bytes_ -= it->chunk.events_zstd().size();
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

absl::Status SessionRecorder::SessionOpened(const HostSession& s, const LocalAccount& account,
                                            pid_t root) {
  ASSIGN_OR_RETURN(InputMode mode, ParseInputMode(account.recording_input));
  if (!recorder_) return absl::UnavailableError(why_);
  if (account.recording_strict && !controller_up_())
    return absl::UnavailableError(
        "the controller is unreachable, and this role's sessions are recorded off-host or not at "
        "all (recording: strict)");
  std::lock_guard lock(mu_);
  const uint64_t key = next_key_++;
  v1::SessionInfo info;
  info.set_user(s.user);
  info.set_service(s.service);
  info.set_tty(s.tty);
  info.set_rhost(s.rhost);
  info.set_grant_id(s.grant_id);
  info.set_started_unix_ns(ClockNs(CLOCK_REALTIME));
  spool_.Open(s.id, std::move(info), MonotonicNs(), account.recording_strict);
  if (absl::Status st = recorder_->Begin(key, root, mode); !st.ok()) {
    spool_.Close(s.id, MonotonicNs(), ClockNs(CLOCK_REALTIME), {});
    return st;
  }
  ids_[key] = s.id;
  Live& live = live_[s.id];
  live.key = key;
  live.root = root;
  live.uid = s.uid;
  live.max_redacted_lines = account.max_redacted_lines;
  live.on_limit = account.on_redaction_limit;
  LogLine(LOG_INFO, StrCat("recording session ", s.id, " (process ", root, ", input ",
                           account.recording_input, ")"));
  return absl::OkStatus();
}

void SessionRecorder::SessionEnded(const HostSession& s) {
  freezer_->Forget(s.id);
  std::lock_guard lock(mu_);
  auto it = live_.find(s.id);
  if (it == live_.end()) return;
  Ending e;
  e.id = s.id;
  e.live = it->second;
  e.ended_unix_ns = ClockNs(CLOCK_REALTIME);
  e.lost = recorder_->End(e.live.key);
  // Records already in the ring buffer still belong to it: finish after two more drains.
  e.after_poll = polls_ + 2;
  live_.erase(it);
  ending_.push_back(std::move(e));
}

bool SessionRecorder::Terminals(const std::string& id, pid_t* root, std::vector<int>* pts,
                                uint32_t* uid) {
  std::lock_guard lock(mu_);
  auto it = live_.find(id);
  if (it == live_.end()) return false;
  *root = it->second.root;
  *pts = recorder_->Terminals(it->second.key);
  if (uid) *uid = it->second.uid;
  return true;
}

void SessionRecorder::Freezer::FreezeIfWanted(uint32_t uid, const std::string& id) {
  std::lock_guard lock(mu);
  auto it = frozen.find(id);
  if (!cgroups || it == frozen.end() || !it->second) return;
  absl::Status st = cgroups->Freeze(uid, id, true);
  if (!st.ok()) {
    LogLine(LOG_ALERT, StrCat("session ", id, " is paused only on its terminals: ", st.message()));
  }
}

void SessionRecorder::Freezer::Thaw(uint32_t uid, const std::string& id) {
  std::lock_guard lock(mu);
  frozen[id] = false;
  if (!cgroups) return;
  absl::Status st = cgroups->Freeze(uid, id, false);
  if (!st.ok()) LogLine(LOG_ERR, StrCat("session ", id, ": ", st.message()));
}

bool SessionRecorder::Freezer::Forget(const std::string& id) {
  std::lock_guard lock(mu);
  auto it = frozen.find(id);
  if (it == frozen.end()) return false;
  const bool was = it->second;
  frozen.erase(it);
  return was;
}

void SessionRecorder::Terminate(const std::string& id, const std::string& why) {
  pid_t root = 0;
  uint32_t uid = 0;
  std::vector<int> pts;
  if (!Terminals(id, &root, &pts, &uid)) return;
  // Off the capture thread: the terminals need a moment to drain.
  std::thread([freezer = freezer_, root, pts, uid, id, why] {
    if (freezer->Forget(id) && freezer->cgroups) {
      // Frozen (held, or paused for its moderators): what is on its terminals is killed where it
      // stands (SIGKILL reaches frozen processes), then the cgroup thaws so that sshd can pass
      // the message on; a moment later everything left goes with the cgroup.
      OpenTerminals terms(pts, root);
      terms.Signal(SIGKILL);
      absl::Status thawed = freezer->cgroups->Freeze(uid, id, false);
      if (!thawed.ok()) LogLine(LOG_ERR, StrCat("session ", id, ": ", thawed.message()));
      terms.Write(why);
      std::this_thread::sleep_for(std::chrono::seconds(1));
    } else {
      EndSessionWithMessage(root, pts, why);
    }
    if (!freezer->cgroups) return;
    // Whatever the session left that is not on a terminal (a setsid'd process, say).
    absl::StatusOr<int> left = freezer->cgroups->KillSession(uid, id, 5000);
    if (!left.ok()) {
      LogLine(LOG_ALERT, StrCat("session ", id, " did not end whole: ", left.status().message(),
                                "; its processes end with the lease"));
    }
  }).detach();
}

void SessionRecorder::EndSession(const HostSession& s, const std::string& why) {
  Terminate(s.id, why);
}

void SessionRecorder::PauseSession(const HostSession& s, const std::string& why) {
  pid_t root = 0;
  std::vector<int> pts;
  if (!Terminals(s.id, &root, &pts)) return;
  freezer_->Want(s.id);
  // The processes on the terminals stop and the operator is told why; once sshd has had a moment
  // to pass the message on, the session's cgroup is frozen, sshd with it: SIGCONT from anywhere
  // (another session of the account, a setsid'd loop) wakes nothing, and a new channel of the
  // connection gets nowhere.
  std::thread([freezer = freezer_, root, pts, why, uid = s.uid, id = s.id] {
    PauseTerminals(root, pts, why, true);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    freezer->FreezeIfWanted(uid, id);
  }).detach();
}

void SessionRecorder::ResumeSession(const HostSession& s, const std::string& why) {
  pid_t root = 0;
  std::vector<int> pts;
  if (!Terminals(s.id, &root, &pts)) return;
  freezer_->Thaw(s.uid, s.id);
  std::thread([root, pts, why] { PauseTerminals(root, pts, why, false); }).detach();
}

void SessionRecorder::OnEvent(uint64_t key, uint64_t mono_ns, KernelLosses lost,
                              v1::RecordingEvent ev) {
  std::string id;
  {
    std::lock_guard lock(mu_);
    auto it = ids_.find(key);
    if (it == ids_.end()) return;
    id = it->second;
  }
  const uint32_t line = ev.has_redacted_line() ? ev.redacted_line().number() : 0;
  spool_.Add(id, static_cast<int64_t>(mono_ns), lost, std::move(ev));
  if (line > 0) CheckRedactionLimit(id, line, static_cast<int64_t>(mono_ns));
}

void SessionRecorder::CheckRedactionLimit(const std::string& id, uint32_t line, int64_t mono_ns) {
  OnRedactionLimit policy = OnRedactionLimit::kAlert;
  bool over = false;
  uint32_t max = 0, account_lines = 0;
  {
    std::lock_guard lock(mu_);
    Live* live = nullptr;
    auto it = live_.find(id);
    if (it != live_.end()) {
      live = &it->second;
    } else {
      for (Ending& e : ending_) {
        if (e.id == id) live = &e.live;  // over: flagged, nothing left to hold or end
      }
      over = true;
    }
    if (!live) return;
    // The limit is the account's on this host, not each session's: lines spread over many
    // logins add up.
    if (line > live->redacted_lines) {
      redacted_by_uid_[live->uid] += line - live->redacted_lines;
      live->redacted_lines = line;
    }
    account_lines = redacted_by_uid_[live->uid];
    if (live->flagged || account_lines <= live->max_redacted_lines) return;
    live->flagged = true;
    max = live->max_redacted_lines;
    policy = live->on_limit;
  }
  // Without the agent to hold it for, a session that should be held is ended.
  OnRedactionLimit action = over ? OnRedactionLimit::kAlert : policy;
  if (action == OnRedactionLimit::kHold && !hold_) action = OnRedactionLimit::kEnd;
  const std::string what = StrCat(
      line, " lines typed without echo (redacted) in session ", id,
      account_lines > line ? StrCat(" (", account_lines, " in all the account's sessions here)") : "",
      ", more than its role allows (recording.max_redacted_lines: ", max, ")");
  const char* consequence = over                                ? "; the session has ended"
                            : action == OnRedactionLimit::kHold ? "; holding it for a moderator"
                            : action == OnRedactionLimit::kEnd  ? "; ending it"
                                                                : "";
  LogLine(LOG_ALERT, StrCat(what, consequence,
                            " (recording.on_redaction_limit: ", OnRedactionLimitName(policy), ")"));
  v1::RecordingEvent alert;
  alert.mutable_alert()->set_kind("redaction_limit");
  alert.mutable_alert()->set_message(StrCat(what, consequence));
  spool_.Add(id, mono_ns, {}, std::move(alert));
  const std::string reason = StrCat("more lines were typed without echo than its role allows (",
                                    max, "); the recording cannot show them");
  switch (action) {
    case OnRedactionLimit::kAlert:
      break;
    case OnRedactionLimit::kHold:
      // mu_ is not held: the agent takes its own lock and calls back into this observer.
      hold_(id, reason);
      break;
    case OnRedactionLimit::kEnd:
      Terminate(id, StrCat("Warden: this session is being ended: ", reason, "."));
      break;
  }
}

void SessionRecorder::NoteLosses() {
  std::vector<std::pair<std::string, uint64_t>> live;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, l] : live_) live.emplace_back(id, l.key);
  }
  for (const auto& [id, key] : live) spool_.NoteLosses(id, MonotonicNs(), recorder_->Losses(key));
}

void SessionRecorder::RunCapture(const std::atomic<bool>& stop) {
  while (!stop) {
    if (recorder_) {
      recorder_->Poll(50);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::vector<Ending> done;
    {
      std::lock_guard lock(mu_);
      ++polls_;
      for (auto it = ending_.begin(); it != ending_.end();) {
        if (it->after_poll <= polls_) {
          ids_.erase(it->live.key);
          recorder_->Forget(it->live.key);
          done.push_back(std::move(*it));
          it = ending_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (const Ending& e : done) {
      spool_.Close(e.id, MonotonicNs(), e.ended_unix_ns, e.lost);
      LogLine(LOG_INFO, StrCat("recording of session ", e.id, " complete"));
    }
    if (recorder_) NoteLosses();
    spool_.Flush(MonotonicNs());
    for (const std::string& id : spool_.TakeOverflowed()) {
      LogLine(LOG_ALERT, StrCat("session ", id, " ended: recording undeliverable (strict)"));
      Terminate(id, "Warden: this session is being ended: its recording cannot be delivered to "
                    "the controller (recording: strict).");
    }
  }
}

}  // namespace warden
