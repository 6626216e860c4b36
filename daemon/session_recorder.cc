#include "daemon/session_recorder.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

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
  SessionInfo info{.user = s.user,
                   .service = s.service,
                   .tty = s.tty,
                   .rhost = s.rhost,
                   .grant_id = s.grant_id,
                   .started_unix_ns = ClockNs(CLOCK_REALTIME)};
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

void SessionRecorder::FreezeForHandover() {
  std::lock_guard lock(mu_);
  if (!freezer_->cgroups) return;
  frozen_at_ns_ = MonotonicNs();
  for (const auto& [id, live] : live_) {
    {
      std::lock_guard f(freezer_->mu);
      auto it = freezer_->frozen.find(id);
      if (it != freezer_->frozen.end() && it->second) paused_before_handover_.insert(id);
    }
    freezer_->Want(id);
    freezer_->FreezeIfWanted(live.uid, id);
  }
}

std::vector<HandedSession> SessionRecorder::Handover(const std::set<std::string>& ids) {
  std::vector<Ending> done;
  std::vector<std::pair<std::string, Live>> handed;
  {
    std::lock_guard lock(mu_);
    done = std::exchange(ending_, {});
    for (auto& [id, live] : live_) {
      if (ids.count(id)) {
        handed.emplace_back(id, live);
        continue;
      }
      Ending e;
      e.id = id;
      e.live = live;
      e.ended_unix_ns = ClockNs(CLOCK_REALTIME);
      done.push_back(std::move(e));
    }
    live_.clear();
  }
  const int64_t now = MonotonicNs();
  for (Ending& e : done) {
    const KernelLosses lost = recorder_ ? recorder_->End(e.live.key) : KernelLosses{};
    spool_.Close(e.id, now, e.ended_unix_ns,
                 {std::max(lost.bytes, e.lost.bytes), std::max(lost.events, e.lost.events)});
  }
  std::vector<HandedSession> out;
  for (const auto& [id, live] : handed) {
    const KernelLosses lost = recorder_ ? recorder_->End(live.key) : KernelLosses{};
    std::optional<SpoolSession> place = spool_.Suspend(id, now, lost);
    if (!place) continue;
    bool frozen = false;
    {
      std::lock_guard lock(freezer_->mu);
      auto f = freezer_->frozen.find(id);
      frozen = f != freezer_->frozen.end() && f->second;
    }
    out.push_back({.spool = std::move(*place),
                   .frozen = frozen,
                   // A frozen session stopped at the freeze; another when its capture did.
                   .stopped_mono_ns = frozen && frozen_at_ns_ ? frozen_at_ns_ : now,
                   .redacted_lines = live.redacted_lines,
                   .paused = paused_before_handover_.count(id) > 0});
  }
  return out;
}

absl::Status SessionRecorder::TakeUp(const HandedSession& h, const HostSession& s,
                                     const LocalAccount& account) {
  ASSIGN_OR_RETURN(InputMode mode, ParseInputMode(account.recording_input));
  if (!recorder_) return absl::UnavailableError(why_);
  std::lock_guard lock(mu_);
  const uint64_t key = next_key_++;
  // What the session's cgroup holds is its too: a process it started that left the tree of its
  // opener (setsid and a double fork) was recorded before the restart and is again.
  const std::vector<pid_t> confined =
      freezer_->cgroups ? freezer_->cgroups->Processes(s.uid, s.id) : std::vector<pid_t>{};
  RETURN_IF_ERROR(recorder_->Begin(key, s.root, mode, confined));
  spool_.Resume(h.spool);
  ids_[key] = s.id;
  Live& live = live_[s.id];
  live.key = key;
  live.root = s.root;
  live.uid = s.uid;
  live.max_redacted_lines = account.max_redacted_lines;
  live.on_limit = account.on_redaction_limit;
  redacted_by_uid_[s.uid] += h.redacted_lines;
  const int64_t now = MonotonicNs();
  const double ms = static_cast<double>(now - h.stopped_mono_ns) / 1e6;
  const std::string what =
      h.frozen ? StrCat("wardend restarted: the session was frozen for ", static_cast<int64_t>(ms),
                        " ms meanwhile and is recorded again (", confined.size(),
                        " processes in its cgroup)")
               : StrCat("wardend restarted: ", static_cast<int64_t>(ms),
                        " ms of this session were not recorded (its cgroup could not be frozen)");
  spool_.Note(s.id, now, {.offset_ns = 0, .terminal = 0, .kind = SessionAlert{"recorder_restart", what}});
  LogLine(h.frozen ? LOG_INFO : LOG_ALERT, StrCat("session ", s.id, ": ", what));
  if (h.paused) {
    freezer_->Want(s.id);  // paused for its moderators: it stays frozen until one watches
  } else if (h.frozen) {
    freezer_->Thaw(s.uid, s.id);
  }
  return absl::OkStatus();
}

void SessionRecorder::Complete(const HandedSession& h, const std::string& why) {
  const int64_t now = MonotonicNs();
  spool_.Resume(h.spool);
  spool_.Note(h.spool.id, now, {.offset_ns = 0, .terminal = 0, .kind = SessionAlert{"recorder_restart", why}});
  spool_.Close(h.spool.id, now, ClockNs(CLOCK_REALTIME), {});
  LogLine(LOG_INFO, StrCat("recording of session ", h.spool.id, " complete: ", why));
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
      // stands (SIGKILL reaches frozen processes) and the message is put on the terminals while
      // sshd is still frozen, so that it is waiting there when the cgroup thaws: written after
      // the thaw, it raced sshd's closing of the channel for the killed shell and was sometimes
      // lost. A moment later everything left goes with the cgroup.
      OpenTerminals terms(pts, root);
      terms.Signal(SIGKILL);
      terms.Write(why);
      absl::Status thawed = freezer->cgroups->Freeze(uid, id, false);
      if (!thawed.ok()) LogLine(LOG_ERR, StrCat("session ", id, ": ", thawed.message()));
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
                              RecordingEvent ev) {
  std::string id;
  {
    std::lock_guard lock(mu_);
    auto it = ids_.find(key);
    if (it == ids_.end()) return;
    id = it->second;
  }
  const auto* redacted = std::get_if<RedactedLine>(&ev.kind);
  const uint32_t line = redacted ? redacted->number : 0;
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
  spool_.Add(id, mono_ns, {},
             {.offset_ns = 0, .terminal = 0,
              .kind = SessionAlert{"redaction_limit", StrCat(what, consequence)}});
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

void SessionRecorder::RunCapture(const std::atomic<bool>& stop, Heartbeat* beat) {
  while (!stop) {
    if (beat) beat->Beat();
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
