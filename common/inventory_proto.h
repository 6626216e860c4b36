// Discovery's types (common/inventory.h) <-> their messages (host.proto): the one conversion
// wardend's transport and the controller's adapters share, as the report is one message.
#pragma once

#include "common/inventory.h"
#include "warden/v1/host.pb.h"

namespace warden {

void ToProto(const Inventory& in, v1::Inventory* out);
void ToProto(const InventoryAccount& in, v1::InventoryAccount* out);
void ToProto(const HostLogin& in, v1::HostLogin* out);
// Not checked here: the controller checks what it takes (CheckInventory, CheckLogin).
Inventory FromProto(const v1::Inventory& in);
HostLogin FromProto(const v1::HostLogin& in);

}  // namespace warden
