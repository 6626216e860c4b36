// The host-side consequences of a lease: the home directory it gets at its first session and
// loses at its end, and the processes that die with it.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace warden {

// Sends SIGTERM to every process whose real, effective or saved uid is `uid`, then SIGKILL to
// what is left after `grace_ms`; repeats until none is left (processes forking meanwhile are
// caught by the next pass). Returns the number of distinct processes signalled.
int KillUidProcesses(uint32_t uid, int64_t grace_ms);

// Creates `home` (0700, owned by uid:gid) if it does not exist. Refuses a path that exists but
// is not a directory owned by uid.
absl::Status CreateHome(const std::string& home, uint32_t uid, uint32_t gid);

// Removes `home` and everything below it without following symlinks or crossing mounts, only if
// it is a directory owned by `uid`. Returns false if there was nothing to remove.
absl::StatusOr<bool> RemoveHome(const std::string& home, uint32_t uid);

}  // namespace warden
