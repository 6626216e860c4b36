// wardend's half of session recording, the kernel side: SessionRecorder is the SessionObserver
// that starts and stops the kernel capture (kernel_recorder.h) for each session of a Warden
// account, feeds the spool (recording_spool.h) from the ring buffer, and acts on a session's
// processes for the agent (pause, resume, end) and for the role's redaction limit.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "daemon/host_agent.h"
#include "daemon/kernel_recorder.h"
#include "daemon/recording_spool.h"

namespace warden {

// A recorded session as one run of wardend hands it to the next (daemon/handover.h).
struct HandedSession {
  SpoolSession spool;
  bool frozen = false;          // its cgroup was frozen for the restart
  int64_t stopped_mono_ns = 0;  // when it was frozen (or, if it was not, its capture stopped)
  uint32_t redacted_lines = 0;  // counted against its account's budget
  bool paused = false;          // frozen already before (moderation): stays frozen
};

class SessionRecorder : public SessionObserver {
 public:
  // `recorder` null: the kernel capture could not be loaded (`why`); every session that must be
  // recorded is then refused. `controller_up` says whether the controller is reachable (it may
  // wait a moment for a connection in progress); a strict session does not start without it.
  SessionRecorder(RecordingSpool& spool, Recorder* recorder, std::string why,
                  std::function<bool()> controller_up)
      : spool_(spool), recorder_(recorder), why_(std::move(why)),
        controller_up_(std::move(controller_up)) {}

  // Called when a session of a role with on_redaction_limit: hold reaches the limit, with the
  // session's id and what happened (for the operator): HostAgent::HoldForModerator. Called on the
  // capture thread with none of the recorder's locks held.
  using HoldForModerator =
      std::function<void(const std::string& session_id, const std::string& reason)>;
  // REQUIRES: called before the capture runs. Without it such a session is ended instead: a hold
  // that nothing can lift is no reason to let it run on.
  void SetHoldForModerator(HoldForModerator hold) { hold_ = std::move(hold); }
  // Where the sessions are confined: a pause then also freezes the session's cgroup (nothing in
  // it runs, whatever signals it gets) and an end kills everything in it, not only what is on its
  // terminals. REQUIRES: called before sessions open.
  void SetCgroups(SessionCgroups* cgroups) { freezer_->cgroups = cgroups; }

  absl::Status SessionOpened(const HostSession& s, const LocalAccount& account, pid_t root) override;
  void SessionEnded(const HostSession& s) override;
  void EndSession(const HostSession& s, const std::string& why) override;
  void PauseSession(const HostSession& s, const std::string& why) override;
  void ResumeSession(const HostSession& s, const std::string& why) override;

  // wardend stopping for a restart hands its sessions to the next run. First, while the capture
  // still runs, every live session's cgroup is frozen: nothing it runs acts unrecorded until the
  // next run takes it up. Then, once the capture thread has stopped, Handover ends the capture of
  // the sessions `ids` (HostAgent::HandOver's), queues their pending events as a chunk and
  // returns their places; any other session, and one that ended meanwhile, is completed.
  void FreezeForHandover();
  std::vector<HandedSession> Handover(const std::set<std::string>& ids);
  // The next run takes up session `s` (its opener still runs): the capture begins again on its
  // process tree, an alert in the recording says for how long it was not captured, and its cgroup
  // thaws. An error: it cannot be recorded (the caller ends it).
  absl::Status TakeUp(const HandedSession& h, const HostSession& s, const LocalAccount& account);
  // A handed-over session that ended during the restart, or cannot be taken up: its recording is
  // completed (`why` is said in it).
  void Complete(const HandedSession& h, const std::string& why);

  // The ring-buffer sink (Recorder::Load's CapturedEvent).
  void OnEvent(uint64_t key, uint64_t mono_ns, KernelLosses lost, RecordingEvent ev);
  // Drains the ring buffer and cuts chunks until `stop`; `beat` (may be null) on every turn.
  void RunCapture(const std::atomic<bool>& stop, Heartbeat* beat = nullptr);

 private:
  // A session being recorded.
  struct Live {
    uint64_t key = 0;
    uint32_t uid = 0;
    pid_t root = 0;  // the process that opened it
    uint32_t max_redacted_lines = 3;
    OnRedactionLimit on_limit = OnRedactionLimit::kAlert;
    bool flagged = false;  // more redacted lines than the role allows
    uint32_t redacted_lines = 0;  // counted into redacted_by_uid_ so far
  };
  // A session that has ended, until its last records are drained (they still count).
  struct Ending {
    std::string id;
    Live live;
    int64_t ended_unix_ns = 0;
    KernelLosses lost;
    uint64_t after_poll = 0;  // finish once the ring buffer has been drained past the end
  };

  // Freezing and thawing session cgroups, shared with the threads that pause, resume and end
  // sessions (which may outlive a call): the last word for a session wins, whatever order those
  // threads run in.
  struct Freezer {
    SessionCgroups* cgroups = nullptr;
    std::mutex mu;
    std::map<std::string, bool> frozen;  // by session id: wanted frozen
    // Wanted frozen; frozen now only if still wanted (a resume may have come meanwhile).
    void Want(const std::string& id) {
      std::lock_guard lock(mu);
      frozen[id] = true;
    }
    void FreezeIfWanted(uint32_t uid, const std::string& id);
    void Thaw(uint32_t uid, const std::string& id);
    // Forgets the session; whether it was wanted frozen.
    bool Forget(const std::string& id);
  };
  // Ends a session with `why` on its terminals (off the calling thread): the processes on them are
  // killed; sshd then closes the connection (if the process that opened the session is still
  // there 10 s later, it gets SIGTERM); then whatever is left in its cgroup is killed. A frozen
  // session is killed at once.
  void Terminate(const std::string& id, const std::string& why);
  // The process that opened session `id`, its account and its terminals (pts indexes; none
  // before their I/O).
  bool Terminals(const std::string& id, pid_t* root, std::vector<int>* pts, uint32_t* uid = nullptr);
  // A redacted line beyond the role's recording.max_redacted_lines (counted over all the
  // account's sessions on this host) flags the session: an alert in
  // the log and in the recording; then the role's on_redaction_limit: hold asks hold_ to pause it
  // for a moderator, end ends it (if it has not ended already: lines typed just before the end
  // are counted as they are drained).
  void CheckRedactionLimit(const std::string& id, uint32_t line, int64_t mono_ns);
  // Marks the kernel's losses of every live session that no event has carried yet.
  void NoteLosses();

  RecordingSpool& spool_;
  Recorder* const recorder_;
  const std::string why_;
  const std::function<bool()> controller_up_;
  HoldForModerator hold_;
  const std::shared_ptr<Freezer> freezer_ = std::make_shared<Freezer>();
  std::mutex mu_;
  uint64_t next_key_ = 1;
  std::map<uint64_t, std::string> ids_;     // kernel session number -> session id
  std::map<std::string, Live> live_;        // by session id
  // Redacted lines of each account (uid) on this host, over all its sessions: the account's
  // recording.max_redacted_lines is one budget, not one per login.
  std::map<uint32_t, uint32_t> redacted_by_uid_;
  std::vector<Ending> ending_;
  uint64_t polls_ = 0;
  std::set<std::string> paused_before_handover_;  // FreezeForHandover: frozen already
  int64_t frozen_at_ns_ = 0;                       // FreezeForHandover: when (monotonic)
};

int64_t MonotonicNs();

}  // namespace warden
