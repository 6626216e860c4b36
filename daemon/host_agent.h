// The heart of wardend: the local state behind one mutex, the rules the PAM module and sshd ask
// about (is this account's lease valid here?), the session registry, and lease-end enforcement,
// which runs from the host's own clock whether or not the controller is reachable
// (host_agent.cc); and session moderation: four-eyes and redaction holds
// (host_agent_moderation.cc). It takes and returns domain types only (host_state.h,
// agent_call.h); daemon/proto_convert.h converts the wire messages.
#pragma once

#include "common/service_watchdog.h"

#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "daemon/agent_call.h"
#include "daemon/config.h"
#include "daemon/host_state.h"
#include "daemon/local_state.h"
#include "daemon/session_cgroup.h"

namespace warden {

using WallClock = std::function<int64_t()>;

struct HostSession {
  std::string id, user, service, tty, rhost, grant_id;
  uint32_t uid = 0;
  int32_t pid = 0;
  pid_t root = 0;  // the process that opened the session (SO_PEERCRED): sshd's monitor
  uint64_t root_start = 0;  // when `root` started (procfs.h's ProcessStartTicks)
  int64_t opened = 0;
  // Four-eyes (the account's role requires moderators): held at its start until enough
  // moderators watch, then running; when fewer remain, paused or ended.
  enum class Moderation { kNone, kHeld, kRunning, kPaused, kEnding };
  Moderation moderation = Moderation::kNone;
  uint32_t moderators_required = 0, moderators = 0;
  bool pause_on_leave = false;
  int64_t moderator_wait = 0;
  int64_t waiting_since = 0;  // held or paused since (wall clock, s)
  // Paused at its role's redaction limit (on_redaction_limit: hold) and no moderator has watched
  // it since. From that hold on the session is moderated (one moderator, on_leave pause).
  bool redaction_hold = false;
};

// The controller's word on one live session (SessionControl on the recording stream).
struct SessionControl {
  uint32_t moderators = 0;    // moderators (of the role's moderator groups) watching now
  std::string terminated_by;  // set: this moderator ended the session
  std::string reason;
};

// Told about every session of a Warden account (the session recorder), and asked to act on the
// session's processes. SessionOpened is called without the agent's lock (it may wait: binding the
// session, a strict role's wait for the controller); the others with it held: they must not call
// back into the agent and must not block. None may call back into the agent.
class SessionObserver {
 public:
  virtual ~SessionObserver() = default;
  // `root` is the process that opened the session (from SO_PEERCRED). An error refuses the
  // session: a session that policy says is recorded never runs unrecorded.
  virtual absl::Status SessionOpened(const HostSession& s, const LocalAccount& account,
                                     pid_t root) = 0;
  virtual void SessionEnded(const HostSession& s) = 0;
  // Ends the running session (its processes), telling the operator `why` on its terminal.
  virtual void EndSession(const HostSession& s, const std::string& why) = 0;
  // Stops / continues the processes on the session's terminal, telling the operator `why`.
  virtual void PauseSession(const HostSession& s, const std::string& why) = 0;
  virtual void ResumeSession(const HostSession& s, const std::string& why) = 0;
};

class HostAgent {
 public:
  HostAgent(HostConfig config, LocalState state, WallClock clock);
  ~HostAgent();
  HostAgent(const HostAgent&) = delete;
  HostAgent& operator=(const HostAgent&) = delete;

  const HostConfig& config() const { return config_; }
  // REQUIRES: called before the agent serves requests; `observer` outlives the agent's use.
  void SetSessionObserver(SessionObserver* observer) { observer_ = observer; }
  // Where sessions are confined (session_cgroup.h), or why they cannot be: then every Warden
  // session is refused with that reason (break-glass accounts are never managed). An agent
  // without either confines nothing (unit tests only; wardend always sets one).
  // REQUIRES: called before the agent serves requests; `cgroups` outlives the agent's use.
  void SetSessionCgroups(SessionCgroups* cgroups, absl::Status unavailable) {
    cgroups_ = cgroups;
    cgroups_unavailable_ = std::move(unavailable);
  }
  int64_t revision();

  // A HostState from the controller: files rewritten, revoked accounts queued for cleanup.
  absl::Status Apply(const HostState& st);

  // Ends expired leases and cleans up ended accounts: the account's session cgroups killed, then
  // a uid scan repeated until it finds nothing, then its home removed. A step that fails leaves
  // the account "ending": retried with backoff (1 s doubling to 5 min), logged at LOG_ALERT and
  // reported to the controller as an alert; it is never taken as done. Returns the time of the
  // next lease end or retry, or 0 if there is none.
  int64_t Enforce();
  // Runs Enforce whenever a lease ends or Wake is called, until `stop`.
  // `beat` (may be null) is beaten on every pass, at least every 5 s (service_watchdog.h).
  void RunEnforcer(const std::atomic<bool>& stop, Heartbeat* beat = nullptr);
  void Wake();

  // One call from the local socket. `peer` is the caller's SO_PEERCRED; `conn` identifies the
  // connection (a session lives as long as its connection).
  AgentReply Handle(const AgentCall& call, const ucred& peer, int conn);
  // The connection `conn` closed: the session opened on it (if any) has ended.
  void ConnectionClosed(int conn);
  std::vector<HostSession> Sessions();

  // wardend stopping for a restart: the running sessions (held ones are left to end with their
  // connection) are given up without ending them, for the next run to take up (Adopt).
  std::vector<HostSession> HandOver();
  // The next run: a session handed over by the last one. It has no connection: it ends when the
  // process that opened it exits (Enforce looks every second).
  void Adopt(HostSession s);
  // Whether `uid` is (or was, and is ending) an account of this host's Warden state.
  bool ManagesUid(uint32_t uid);
  // The account as the local state holds it now.
  std::optional<LocalAccount> Account(const std::string& user);

  // The controller's word on a live session (moderators watching, or a moderator's terminate).
  void Moderate(const std::string& session_id, const SessionControl& c);
  // The stream that carries that word is gone: nobody can be watching any session.
  void ModeratorsLost();
  // Session `session_id` reached its role's redaction limit and the role says hold
  // (on_redaction_limit: hold); `reason` says what happened, for the operator. From now on it
  // runs only while at least one moderator watches: at once paused like a four-eyes session whose
  // moderators left (on_leave pause) unless one watches already, resumed by Moderate when one
  // does, ended by Enforce after the account's moderator_wait. A session that is already
  // moderated (four-eyes) stays as it is: held, paused or watched. Takes the agent's lock: the
  // caller must hold no lock the agent's SessionObserver takes (the recorder calls this from its
  // capture thread, outside its own lock).
  void HoldForModerator(const std::string& session_id, const std::string& reason);
  // Late replies to held sessions (the second reply after kHold), by connection. The
  // agent socket polls notify_fd(), readable while there are any.
  std::vector<std::pair<int, AgentReply>> TakeReplies();
  int notify_fd() const { return notify_fd_; }
  // sshd's AuthorizedPrincipalsCommand user (may ask about principals only).
  uid_t principals_uid() const { return principals_uid_; }

  // Ended accounts not yet reported to the controller, and incomplete ends whose error has not
  // reached it (alert_pending); MarkReported after it acknowledged that report.
  std::vector<EndedAccount> PendingReports();
  void MarkReported(const EndedAccount& report);

 private:
  // A session opening (pam_open_session): the lease checked, the opener confined in the
  // session's cgroup, its home made and the session registered with the recorder (all outside
  // mu_), then the lease checked again. Takes mu_ itself.
  AgentReply OpenSession(const SessionOpen& o, const ucred& peer, int conn);
  // The verdict for `user` now; mu_ held.
  AgentReply Verdict(const std::string& user, const LocalAccount** account);
  void Log(int priority, const std::string& msg);
  // Rewrites sshd's trust files (RefreshSshdTrustFiles); logs a problem once, and its end.
  // REQUIRES: files_mu_ held.
  void RefreshTrust();
  // WriteAccountFiles for `snapshot`; a failure is logged once (and its end) and retried by
  // Enforce. REQUIRES: files_mu_ held.
  void WriteFiles(const LocalState& snapshot, int64_t now);
  // The first reply to a session held for moderators (kHold) into `r`, and the log line.
  void HoldReply(const HostSession& s, AgentReply* r);
  // REQUIRES: mu_ held.
  void ModerateLocked(int conn, HostSession& s, const SessionControl& c);
  void ReplyLocked(int conn, AgentReply r);
  // A held session that will not start: refused, its opener ended. Erases it.
  void RefuseHeldLocked(int conn, const std::string& why);
  // Ends every process of the accounts `uids`, outside the lock, adding to `killed` per uid;
  // the first step that failed, if any.
  absl::Status EndProcesses(const std::set<uint32_t>& uids, std::map<uint32_t, int>* killed);
  // Refuses held sessions whose account's lease is no longer valid; mu_ held.
  void RefuseHeldOfEndedLocked();
  // Ends expired waits for moderators; mu_ held.
  void EnforceModerationLocked(int64_t now);

  const HostConfig config_;
  WallClock clock_;
  // Lock order: files_mu_, then mu_. mu_ guards the state in memory (every verdict); files_mu_
  // the files written from it (held while forking visudo and fsyncing, never mu_).
  std::mutex files_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;
  LocalState state_;
  std::map<int, HostSession> sessions_;  // by connection; taken-up sessions (Adopt) below 0
  int adopted_ = 0;  // the last key given to a taken-up session
  uid_t principals_uid_ = static_cast<uid_t>(-1);
  SessionObserver* observer_ = nullptr;
  SessionCgroups* cgroups_ = nullptr;
  absl::Status cgroups_unavailable_;
  std::vector<std::pair<int, AgentReply>> replies_;
  int notify_fd_ = -1;  // eventfd
  std::string trust_problem_;  // the last error of RefreshTrust, empty when none; files_mu_
  // Why WriteAccountFiles failed on the last snapshot, empty when it did not: Enforce writes the
  // current one again each tick until it succeeds (files_mu_).
  std::string files_problem_;
};

}  // namespace warden
