#include "controller/api/ca_convert.h"

#include "common/sshkey.h"

namespace warden {

void ToProto(int tier, const std::vector<CaKeyRow>& keys, v1::TrustedKeys* out) {
  out->set_tier(tier);
  for (const auto& k : keys) {
    auto* p = out->add_keys();
    auto pub = ParsePublicKey(k.public_key);
    p->set_public_key(pub.ok() ? FormatAuthorizedKey(*pub, k.label) : "");
    p->set_fingerprint(Fingerprint(k.public_key));
    p->set_state(k.state);
    p->set_created_unix(k.created);
  }
}

}  // namespace warden
