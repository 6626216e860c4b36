// HostService's messages <-> the host registry's domain (controller/core/host_registry.h).
#pragma once

#include "common/inventory.h"
#include "controller/core/coverage.h"
#include "controller/core/host_registry.h"
#include "warden/v1/audit.pb.h"
#include "warden/v1/host.pb.h"

namespace warden {

// What a host must hold. The server time is the caller's to set, when it sends the state.
v1::HostState ToProto(const HostState& st);

// A host's inventory report (common/inventory.h); checked by Coverage::Report, not here.
Inventory FromProto(const v1::Inventory& in);
HostLogin FromProto(const v1::HostLogin& in);
// And back, for wardenctl coverage.
void ToProto(const InventoryAccount& a, v1::InventoryAccount* out);
void ToProto(const CoverageReport& r, v1::CoverageResponse* out);

}  // namespace warden
