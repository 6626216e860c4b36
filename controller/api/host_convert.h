// HostService's messages <-> the host registry's domain (controller/core/host_registry.h).
#pragma once

#include "controller/core/host_registry.h"
#include "warden/v1/host.pb.h"

namespace warden {

// What a host must hold. The server time is the caller's to set, when it sends the state.
v1::HostState ToProto(const HostState& st);

}  // namespace warden
