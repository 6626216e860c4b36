// Fuzzes the OpenSSH public key parsers (wire blob and authorized_keys line) and the policy
// check that follows them.
#include <cstddef>
#include <cstdint>

#include "common/sshkey.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  warden::ByteSpan in(data, size);
  auto key = warden::ParsePublicKey(in);
  if (key.ok()) {
    (void)warden::CheckUserKeyAcceptable(*key);
    (void)warden::ToEvpPkey(*key);
    (void)warden::Fingerprint(key->blob);
  }
  std::string comment;
  (void)warden::ParseAuthorizedKey(warden::AsChars(in), &comment);
  return 0;
}
