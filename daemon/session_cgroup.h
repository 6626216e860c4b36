// Confinement of Warden sessions in cgroup v2, so that a lease end reaches every process a
// session started: one that forks faster than /proc can be scanned, one that left its session
// with setsid, one that changed its uid through the account's own sudo.
//
// Each session gets its own cgroup, named after the account's uid and the session id, into which
// the process that opened the session (sshd's per-connection process) and its descendants are
// moved before the session starts; everything they fork later is born inside it. Ending an
// account writes "1" to cgroup.kill of each of its cgroups (Linux >= 5.14), which kills every
// member atomically with respect to fork, and then waits until the cgroups are empty.
//
// Where the cgroups live:
//  - under systemd (sd_booted), a transient scope per session, `warden-u<uid>-<session>.scope`
//    in `warden.slice`, asked for over the system bus (systemd owns the tree and would move
//    processes out of cgroups it does not know); if pam_systemd runs after pam_warden, logind
//    moves the session on into its own scope under user-<uid>.slice, so ending an account also
//    kills that slice (it holds only that account's sessions);
//  - otherwise, a directory `u<uid>-<session>` under `warden-sessions` in wardend's own cgroup on
//    the cgroup2 mount found in /proc/self/mountinfo (a unified hierarchy, or the `unified` mount
//    of a hybrid one).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace warden {

class SessionCgroups {
 public:
  // Finds the cgroup2 mount and where session cgroups go. An error names what is missing; a
  // host where it fails cannot confine sessions, and wardend refuses Warden sessions there.
  static absl::StatusOr<std::unique_ptr<SessionCgroups>> Open();
  // For tests: session cgroups are directories under `dir` (an existing directory on a cgroup2
  // mount), never systemd scopes.
  static std::unique_ptr<SessionCgroups> AtDirectory(std::string dir);
  virtual ~SessionCgroups() = default;

  // Moves `pid` and its descendants into the cgroup of session `session` of account `uid`.
  virtual absl::Status Confine(uint32_t uid, const std::string& session, pid_t pid) = 0;
  // Removes the cgroup of a session whose processes have all exited (a no-op if some remain:
  // they stay confined until the account's lease ends).
  virtual void Release(uint32_t uid, const std::string& session) = 0;
  // Kills every process in every cgroup of the accounts `uids` (all cgroups first, then waits up
  // to `timeout_ms` until all of them are empty), then removes them. Returns how many processes
  // were in them per uid. An error (a cgroup that cannot be killed or that would not empty)
  // leaves the rest for a retry.
  virtual absl::StatusOr<std::map<uint32_t, int>> KillAccounts(const std::set<uint32_t>& uids,
                                                               int64_t timeout_ms) = 0;
  // Freezes (or thaws) every process of one session (cgroup.freeze): a frozen process cannot be
  // woken by SIGCONT from anyone, nor fork; a new channel of the same connection is frozen too.
  virtual absl::Status Freeze(uint32_t uid, const std::string& session, bool frozen) = 0;
  // Kills every process of one session (cgroup.kill, frozen or not), waits up to `timeout_ms`
  // until they are gone, and removes its cgroup. Returns how many there were.
  virtual absl::StatusOr<int> KillSession(uint32_t uid, const std::string& session,
                                          int64_t timeout_ms) = 0;
  // Every session cgroup there is now, as (account uid, session id).
  virtual std::vector<std::pair<uint32_t, std::string>> Sessions() = 0;
  // The processes in one session's cgroup now (none if it has none, or no cgroup).
  virtual std::vector<pid_t> Processes(uint32_t uid, const std::string& session) = 0;
  // Where session cgroups are made (for messages).
  virtual std::string Describe() const = 0;
};

// The cgroup2 mount point named in a /proc/PID/mountinfo text, or "" if there is none.
std::string Cgroup2MountPoint(const std::string& mountinfo);
// The unified-hierarchy path ("0::PATH") in a /proc/PID/cgroup text, or "" if there is none.
std::string UnifiedCgroupPath(const std::string& proc_cgroup);

}  // namespace warden
