// The host-side consequences of a lease: the home directory it gets at its first session and
// loses at its end, and the processes that die with it.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "common/status.h"

namespace warden {

// Sends SIGTERM to every process whose real, effective or saved uid is one of `uids`, then
// SIGKILL to what is left after `grace_ms`, pass after pass until a pass finds none (processes
// forking meanwhile are caught by the next); one /proc walk a pass for all of them. Returns the
// number of distinct processes signalled per uid (uids without any are absent); an error if
// /proc cannot be read or processes remain after `timeout_ms`.
// This is the second pass of a lease end: the session cgroups (session_cgroup.h) are the first.
absl::StatusOr<std::map<uint32_t, int>> KillUidProcesses(const std::set<uint32_t>& uids,
                                                         int64_t grace_ms, int64_t timeout_ms);

// Creates `home` (0700, owned by uid:gid) if it does not exist. Refuses a path that exists but
// is not a directory owned by uid.
absl::Status CreateHome(const std::string& home, uint32_t uid, uint32_t gid);

// How deep RemoveHome descends (one descriptor per level).
inline constexpr int kMaxHomeDepth = 256;

// Removes `home` and everything below it, only if it is a directory owned by `uid`. The walk
// goes through directory descriptors (openat/unlinkat with O_NOFOLLOW|O_DIRECTORY), never
// follows a symlink, never crosses into another file system, and stops at kMaxHomeDepth levels:
// a directory swapped for a symlink mid-walk cannot send it outside the home. Returns false if
// there was nothing to remove.
absl::StatusOr<bool> RemoveHome(const std::string& home, uint32_t uid);

}  // namespace warden
