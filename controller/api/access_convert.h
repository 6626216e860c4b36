// AccessService's messages <-> the access domain (controller/core/access.h).
#pragma once

#include "controller/core/access.h"
#include "warden/v1/access.pb.h"

namespace warden {

void ToProto(const RequestView& v, v1::AccessRequest* out);
void ToProto(const GrantView& v, v1::Grant* out);

}  // namespace warden
