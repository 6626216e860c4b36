// HostService's messages <-> the host registry's domain (controller/core/host_registry.h).
#pragma once

#include "common/inventory_proto.h"
#include "controller/core/coverage.h"
#include "controller/core/host_registry.h"
#include "warden/v1/audit.pb.h"
#include "warden/v1/host.pb.h"

namespace warden {

// What a host must hold. The server time is the caller's to set, when it sends the state.
v1::HostState ToProto(const HostState& st);

// The inventory's own messages convert in common/inventory_proto.h.
void ToProto(const CoverageReport& r, v1::CoverageResponse* out);

}  // namespace warden
