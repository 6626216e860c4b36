// HostService's messages <-> the host registry's domain (controller/core/host_registry.h).
#pragma once

#include "controller/core/host_registry.h"
#include "warden/v1/host.pb.h"

namespace warden {

// What a host must hold. A role's moderation settings go out only where they apply: the
// moderator count and on_leave for four-eyes roles, the wait also for roles that hold a session
// at its redaction limit. The server time is the caller's to set, when it sends the state.
v1::HostState ToProto(const HostState& st);

}  // namespace warden
