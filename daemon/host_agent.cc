#include "daemon/host_agent.h"

#include <pwd.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "common/strings.h"
#include "common/totp.h"
#include "daemon/enforcer.h"
#include "daemon/log.h"
#include "daemon/procfs.h"
#include "daemon/site_trust.h"

namespace warden {
namespace {

// How long an ended account's tombstone is kept after it was reported: while it is, a login
// attempt gets "lease ended" instead of "unknown user".
constexpr int64_t kTombstoneSeconds = 86400;

}  // namespace

HostAgent::HostAgent(HostConfig config, LocalState state, WallClock clock)
    : config_(std::move(config)), clock_(std::move(clock)), state_(std::move(state)),
      notify_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (passwd* pw = getpwnam(config_.principals_user.c_str())) principals_uid_ = pw->pw_uid;
}

HostAgent::~HostAgent() {
  if (notify_fd_ >= 0) close(notify_fd_);
}

void HostAgent::Log(int priority, const std::string& msg) { LogLine(priority, msg); }

int64_t HostAgent::revision() {
  std::lock_guard lock(mu_);
  return state_.revision;
}

absl::Status HostAgent::Apply(const HostState& st) {
  // The files (NSS cache, sudoers through visudo, sshd's trust files, state.json) are written
  // from a snapshot outside mu_, so the PAM module's checks never wait behind a fork or an fsync;
  // files_mu_ keeps the writes in the order of their snapshots.
  std::lock_guard files(files_mu_);
  LocalState snapshot;
  const int64_t now = clock_();
  {
    std::lock_guard lock(mu_);
    const size_t ended_before = state_.ended.size();
    RETURN_IF_ERROR(ApplyHostState(config_, st, now, state_));
    for (size_t i = ended_before; i < state_.ended.size(); i++) {
      Log(LOG_NOTICE, StrCat("account ", state_.ended[i].account.login, " revoked by the controller"));
    }
    state_.generation++;
    snapshot = state_;
    wake_ = true;
  }
  cv_.notify_all();
  WriteFiles(snapshot, now);
  RefreshTrust();
  RETURN_IF_ERROR(SaveLocalState(config_, snapshot));
  Log(LOG_INFO, StrCat("applied revision ", st.revision, ": ", snapshot.accounts.size(),
                       " account(s)"));
  return absl::OkStatus();
}

void HostAgent::WriteFiles(const LocalState& snapshot, int64_t now) {
  absl::Status written = WriteAccountFiles(config_, snapshot, now);
  const std::string problem(written.message());
  if (problem == files_problem_) return;
  if (written.ok()) {
    Log(LOG_NOTICE, "the accounts' files (NSS cache, principals, sudoers) are up to date again");
  } else {
    Log(LOG_ERR, StrCat(problem, "; retrying every few seconds"));
  }
  files_problem_ = problem;
}

void HostAgent::RefreshTrust() {
  absl::Status st = RefreshSshdTrustFiles(config_);
  const std::string problem(st.message());
  if (problem == trust_problem_) return;
  trust_problem_ = problem;
  if (st.ok()) {
    Log(LOG_NOTICE, "sshd's TrustedUserCAKeys and RevokedKeys files are up to date again");
  } else {
    Log(LOG_CRIT, StrCat("sshd's trust files: ", problem));
  }
}

int64_t HostAgent::Enforce() {
  std::vector<EndedAccount> to_clean;
  {
    std::unique_lock files(files_mu_);
    std::optional<LocalState> snapshot;  // to write: its files, and the state file if changed
    bool expired = false, pruned = false;
    const int64_t now = clock_();
    {
      std::lock_guard lock(mu_);
      // A session taken up from the last run ends when the process that opened it is gone.
      for (auto it = sessions_.begin(); it != sessions_.end() && it->first < 0;) {
        if (ProcessStartTicks(it->second.root) == it->second.root_start) {
          ++it;
          continue;
        }
        Log(LOG_INFO, StrCat("session ", it->second.id, " ended (its process ", it->second.root,
                             " exited)"));
        if (observer_) observer_->SessionEnded(it->second);
        if (cgroups_) cgroups_->Release(it->second.uid, it->second.id);
        it = sessions_.erase(it);
      }
      expired = ExpireAccounts(state_, now) > 0;
      RefuseHeldOfEndedLocked();
      for (const auto& e : state_.ended) {
        if (!e.cleaned && e.next_attempt <= now) to_clean.push_back(e);
      }
      pruned = std::erase_if(state_.ended, [&](const EndedAccount& e) {
                 return e.reported && e.ended + kTombstoneSeconds < now;
               }) > 0;
      if (expired) state_.generation++;
      // Files are written when an account ended, and again while the last write failed.
      if (expired || pruned || !files_problem_.empty()) snapshot = state_;
    }
    // A change to a site file merged by configure-host --merge takes effect within one tick.
    RefreshTrust();
    if (expired || !files_problem_.empty()) WriteFiles(*snapshot, now);
    // This runs every few seconds; the state file is rewritten only when something changed.
    if (expired || pruned) {
      absl::Status saved = SaveLocalState(config_, *snapshot);
      if (!saved.ok()) Log(LOG_ERR, std::string(saved.message()));
    }
  }
  // Outside the lock: killing waits for processes to die. Accounts ending together are killed
  // together (every cgroup first, one /proc walk a pass for all their uids).
  std::set<uint32_t> uids;
  for (const auto& e : to_clean) uids.insert(e.account.uid);
  std::map<uint32_t, int> killed;
  const absl::Status together = to_clean.empty() ? absl::OkStatus() : EndProcesses(uids, &killed);
  for (const auto& e : to_clean) {
    // One stuck account must not hold back the others: after a failure, each on its own.
    absl::Status done = together.ok() || uids.size() == 1
                            ? together
                            : EndProcesses({e.account.uid}, &killed);
    bool home_removed = false;
    if (done.ok()) {
      absl::StatusOr<bool> removed = RemoveHome(e.account.home, e.account.uid);
      if (removed.ok()) {
        home_removed = *removed;
      } else {
        done = removed.status();
      }
    }
    std::lock_guard lock(mu_);
    for (auto& x : state_.ended) {
      if (x.account.login != e.account.login) continue;
      x.processes_killed += killed[e.account.uid];
      x.home_removed = x.home_removed || home_removed;
      if (done.ok()) {
        x.cleaned = true;
        x.error.clear();
        Log(LOG_NOTICE, StrCat("lease of ", e.account.login, " (uid ", e.account.uid, ", grant ",
                               e.account.grant_id, ") ended: ", e.reason, "; ",
                               x.processes_killed, " process(es) killed, home ",
                               x.home_removed ? "removed" : "absent"));
      } else {
        x.attempts++;
        const int64_t backoff = std::min<int64_t>(int64_t{1} << std::min(x.attempts - 1, 9), 300);
        x.next_attempt = clock_() + backoff;
        x.error = std::string(done.message());
        x.alert_pending = true;
        Log(LOG_ALERT, StrCat("lease end of ", e.account.login, " (uid ", e.account.uid,
                              ") is incomplete after attempt ", x.attempts, ": ", x.error,
                              "; retrying in ", backoff, " s"));
      }
    }
  }
  if (!to_clean.empty()) {
    std::lock_guard files(files_mu_);
    LocalState snapshot;
    {
      std::lock_guard lock(mu_);
      snapshot = state_;
    }
    absl::Status saved = SaveLocalState(config_, snapshot);
    if (!saved.ok()) Log(LOG_ERR, std::string(saved.message()));
  }
  std::lock_guard lock(mu_);
  EnforceModerationLocked(clock_());
  int64_t next = state_.NextExpiry().value_or(0);
  for (const auto& e : state_.ended) {
    if (!e.cleaned && (next == 0 || e.next_attempt < next)) next = std::max<int64_t>(e.next_attempt, 1);
  }
  return next;
}

absl::Status HostAgent::EndProcesses(const std::set<uint32_t>& uids,
                                     std::map<uint32_t, int>* killed) {
  // First the session cgroups (everything the sessions started, whatever its uid now), then
  // every process of the uids that is not in one (cron jobs, say) — the second pass runs even
  // when the first failed. The first error is kept.
  absl::Status first = absl::OkStatus();
  if (cgroups_) {
    absl::StatusOr<std::map<uint32_t, int>> n = cgroups_->KillAccounts(uids, 5000);
    if (n.ok()) {
      for (const auto& [uid, count] : *n) (*killed)[uid] += count;
    } else {
      first = n.status();
    }
  }
  absl::StatusOr<std::map<uint32_t, int>> n =
      KillUidProcesses(uids, config_.kill_grace_ms, config_.kill_grace_ms + 5000);
  if (n.ok()) {
    for (const auto& [uid, count] : *n) (*killed)[uid] += count;
  } else if (first.ok()) {
    first = n.status();
  }
  return first;
}

void HostAgent::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void HostAgent::RunEnforcer(const std::atomic<bool>& stop, Heartbeat* beat) {
  while (!stop) {
    if (beat) beat->Beat();
    const int64_t next = Enforce();
    std::unique_lock lock(mu_);
    // Lease ends are whole seconds: wake at the first instant of that second, and at least
    // every 5 s so a stop request or a clock jump is noticed.
    auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(5);
    // Taken-up sessions are looked at every second (their end is seen by polling).
    if (!sessions_.empty() && sessions_.begin()->first < 0)
      deadline = std::chrono::system_clock::now() + std::chrono::seconds(1);
    if (next) deadline = std::min(deadline, std::chrono::system_clock::time_point(std::chrono::seconds(next)));
    cv_.wait_until(lock, deadline, [&] { return wake_ || stop; });
    wake_ = false;
  }
}

AgentReply HostAgent::Verdict(const std::string& user, const LocalAccount** account) {
  AgentReply r;
  *account = nullptr;
  if (std::find(config_.break_glass.begin(), config_.break_glass.end(), user) !=
      config_.break_glass.end()) {
    r.verdict = AgentVerdict::kNotManaged;
    return r;
  }
  const int64_t now = clock_();
  if (const LocalAccount* a = state_.FindAccount(user)) {
    if (a->expires > now) {
      r.verdict = AgentVerdict::kAllow;
      *account = a;
      return r;
    }
    r.verdict = AgentVerdict::kDeny;
    r.message = StrCat("Warden: the lease of ", user, " ended at ", UtcText(a->expires));
    return r;
  }
  if (const EndedAccount* e = state_.FindEnded(user)) {
    r.verdict = AgentVerdict::kDeny;
    r.message = StrCat("Warden: the lease of ", user, " has ended (", e->reason, " at ",
                         UtcText(e->ended), ")");
    return r;
  }
  r.verdict = AgentVerdict::kNotManaged;
  return r;
}

AgentReply HostAgent::OpenSession(const SessionOpen& o, const ucred& peer, int conn) {
  // sshd goes on after a failed pam_open_session: a refused session's connection is ended here.
  auto refuse = [&](AgentReply r, const std::string& log) {
    if (!log.empty()) Log(LOG_ERR, StrCat("session of ", o.user, " refused: ", log));
    if (peer.pid > 1 && peer.pid != getpid()) kill(peer.pid, SIGTERM);
    return r;
  };
  auto deny = [&](const std::string& message) {
    AgentReply r;
    r.verdict = AgentVerdict::kDeny;
    r.message = message;
    return r;
  };
  HostSession s;
  s.id = "s-" + RandomId(12);
  LocalAccount account;  // a copy: the state may change while the lock is not held
  {
    std::lock_guard lock(mu_);
    const LocalAccount* found = nullptr;
    AgentReply r = Verdict(o.user, &found);
    if (!found) {
      if (r.verdict != AgentVerdict::kDeny) return r;
      Log(LOG_WARNING, StrCat("session of ", o.user, " refused; ending pid ", peer.pid));
      return refuse(std::move(r), "");
    }
    account = *found;
    const auto open = std::count_if(sessions_.begin(), sessions_.end(),
                                    [&](const auto& c) { return c.second.uid == account.uid; });
    if (open >= config_.max_sessions_per_account) {
      return refuse(deny(StrCat("Warden: ", o.user, " already has ", open,
                                " sessions open on this host, the most it may "
                                "(max_sessions_per_account); end one first")),
                    StrCat(open, " sessions already open"));
    }
  }
  // Everything slow happens outside the lock (a /proc walk and cgroup writes, or a D-Bus call
  // under systemd; the home; the recorder binding the session, and for a strict role a wait for
  // the controller), so lease end, the controller's updates and moderation never wait behind a
  // login. The session is confined before anything of it runs: all it starts is born in its
  // cgroup.
  s.uid = account.uid;
  absl::Status confined = cgroups_unavailable_;
  if (confined.ok() && cgroups_) confined = cgroups_->Confine(s.uid, s.id, peer.pid);
  if (!confined.ok()) {
    return refuse(deny(StrCat("Warden: this session cannot be confined, so it would outlive its "
                              "lease: ", confined.message())),
                  std::string(confined.message()));
  }
  absl::Status home = CreateHome(account.home, account.uid, account.gid);
  if (!home.ok()) Log(LOG_WARNING, std::string(home.message()));
  s.user = o.user;
  s.service = o.service;
  s.tty = o.tty;
  s.rhost = o.rhost;
  s.pid = o.pid ? o.pid : peer.pid;
  s.root = peer.pid;
  s.root_start = ProcessStartTicks(peer.pid);
  s.grant_id = account.grant_id;
  s.opened = clock_();
  s.moderator_wait = account.moderator_wait;  // for four-eyes, and for a redaction hold
  if (account.moderators_required > 0) {
    if (!observer_) {
      if (cgroups_) cgroups_->Release(s.uid, s.id);
      const std::string why = "Warden: this session needs moderators, and sessions are not recorded here";
      return refuse(deny(why), why);
    }
    s.moderation = HostSession::Moderation::kHeld;
    s.moderators_required = account.moderators_required;
    s.pause_on_leave = account.moderator_pause;
    s.waiting_since = s.opened;
  }
  if (observer_) {
    if (absl::Status st = observer_->SessionOpened(s, account, peer.pid); !st.ok()) {
      if (cgroups_) cgroups_->Release(s.uid, s.id);
      return refuse(deny(StrCat("Warden: this session must be recorded and cannot be: ", st.message())),
                    std::string(st.message()));
    }
  }
  std::unique_lock lock(mu_);
  const LocalAccount* now = nullptr;
  AgentReply r = Verdict(o.user, &now);
  if (!now || now->uid != s.uid) {
    // The lease ended (or the account was replaced) meanwhile: its lease end may have run before
    // the cgroup existed, so the cgroup is ended here.
    lock.unlock();
    if (observer_) observer_->SessionEnded(s);
    if (r.verdict != AgentVerdict::kDeny) {
      r = deny(StrCat("Warden: the lease of ", o.user, " ended while the session opened"));
    }
    refuse(r, std::string(r.message));
    if (cgroups_) {
      auto killed = cgroups_->KillAccounts({s.uid}, 5000);
      if (!killed.ok()) {
        // Never left behind: the account's lease end runs again (retried and alerted as any).
        Log(LOG_ALERT, StrCat("session ", s.id, ": ", killed.status().message()));
        {
          std::lock_guard again(mu_);
          for (EndedAccount& e : state_.ended) {
            if (e.account.uid != s.uid) continue;
            e.cleaned = false;
            e.next_attempt = clock_();
          }
        }
        Wake();
      }
    }
    return r;
  }
  r.session_id = s.id;
  Log(LOG_INFO, StrCat("session ", s.id, " opened: ", s.user, " on ", s.tty.empty() ? "-" : s.tty,
                       " from ", s.rhost.empty() ? "local" : s.rhost, " via ", s.service));
  if (s.moderation == HostSession::Moderation::kHeld) HoldReply(s, &r);
  sessions_[conn] = std::move(s);
  return r;
}

AgentReply HostAgent::Handle(const AgentCall& call, const ucred& peer, int conn) {
  AgentReply r;
  const bool root = peer.uid == 0;
  const auto* principals = std::get_if<PrincipalsQuery>(&call);
  if (!root && !(principals && peer.uid == principals_uid_)) {
    r.verdict = AgentVerdict::kDeny;
    r.message = StrCat("Warden: uid ", peer.uid, " may not make this call");
    return r;
  }
  if (const auto* open = std::get_if<SessionOpen>(&call)) return OpenSession(*open, peer, conn);
  std::lock_guard lock(mu_);
  const LocalAccount* account = nullptr;
  if (const auto* check = std::get_if<AccountCheck>(&call)) {
    r = Verdict(check->user, &account);
    if (r.verdict == AgentVerdict::kDeny) {
      Log(LOG_NOTICE, StrCat("refused ", check->user, " (", check->service, " from ",
                             check->rhost, "): ", r.message));
    }
    return r;
  }
  if (principals) {
    r = Verdict(principals->user, &account);
    if (account) r.principals.push_back(account->login);
    return r;
  }
  if (const auto* close = std::get_if<SessionClose>(&call)) {
    auto it = sessions_.find(conn);
    if (it != sessions_.end() && it->second.id == close->session_id) {
      Log(LOG_INFO, StrCat("session ", it->second.id, " closed"));
      if (observer_) observer_->SessionEnded(it->second);
      if (cgroups_) cgroups_->Release(it->second.uid, it->second.id);
      sessions_.erase(it);
    }
    r.verdict = AgentVerdict::kAllow;
    return r;
  }
  r.verdict = AgentVerdict::kDeny;
  r.message = "Warden: empty or unknown request";
  return r;
}

void HostAgent::ConnectionClosed(int conn) {
  std::lock_guard lock(mu_);
  // A reply not yet sent must not reach a later connection that reuses the descriptor.
  std::erase_if(replies_, [&](const auto& r) { return r.first == conn; });
  auto it = sessions_.find(conn);
  if (it == sessions_.end()) return;
  Log(LOG_INFO, StrCat("session ", it->second.id, " ended (connection closed)"));
  if (observer_) observer_->SessionEnded(it->second);
  if (cgroups_) cgroups_->Release(it->second.uid, it->second.id);
  sessions_.erase(it);
}

std::vector<HostSession> HostAgent::HandOver() {
  std::lock_guard lock(mu_);
  std::vector<HostSession> out;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (it->second.moderation == HostSession::Moderation::kHeld) {
      ++it;
      continue;
    }
    out.push_back(std::move(it->second));
    it = sessions_.erase(it);
  }
  return out;
}

void HostAgent::Adopt(HostSession s) {
  std::lock_guard lock(mu_);
  Log(LOG_INFO, StrCat("session ", s.id, " of ", s.user, " taken up from the last run (process ",
                       s.root, ")"));
  sessions_[--adopted_] = std::move(s);
  wake_ = true;
  cv_.notify_all();
}

bool HostAgent::ManagesUid(uint32_t uid) {
  std::lock_guard lock(mu_);
  for (const LocalAccount& a : state_.accounts) {
    if (a.uid == uid) return true;
  }
  for (const EndedAccount& e : state_.ended) {
    if (e.account.uid == uid) return true;
  }
  return false;
}

std::optional<LocalAccount> HostAgent::Account(const std::string& user) {
  std::lock_guard lock(mu_);
  const LocalAccount* a = state_.FindAccount(user);
  if (!a) return std::nullopt;
  return *a;
}

std::vector<HostSession> HostAgent::Sessions() {
  std::lock_guard lock(mu_);
  std::vector<HostSession> out;
  for (const auto& [c, s] : sessions_) out.push_back(s);
  return out;
}

std::vector<EndedAccount> HostAgent::PendingReports() {
  std::lock_guard lock(mu_);
  std::vector<EndedAccount> out;
  for (const auto& e : state_.ended) {
    if ((e.cleaned && !e.reported) || (!e.cleaned && e.alert_pending)) out.push_back(e);
  }
  return out;
}

void HostAgent::MarkReported(const EndedAccount& report) {
  std::lock_guard files(files_mu_);
  LocalState snapshot;
  {
    std::lock_guard lock(mu_);
    for (auto& e : state_.ended) {
      if (e.account.login != report.account.login) continue;
      if (report.cleaned) {
        e.reported = true;
      } else if (e.error == report.error) {
        e.alert_pending = false;  // a newer error still goes out
      }
    }
    snapshot = state_;
  }
  absl::Status saved = SaveLocalState(config_, snapshot);
  if (!saved.ok()) Log(LOG_ERR, std::string(saved.message()));
}

}  // namespace warden
