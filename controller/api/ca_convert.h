// CaService's messages <-> the certificate authority's domain
// (controller/core/certificate_authority.h).
#pragma once

#include <vector>

#include "controller/core/certificate_authority.h"
#include "warden/v1/ca.pb.h"

namespace warden {

// The trusted CA keys of `tier` as authorized_keys lines (empty for a key that does not parse),
// with their fingerprints and rotation states.
void ToProto(int tier, const std::vector<CaKeyRow>& keys, v1::TrustedKeys* out);

}  // namespace warden
