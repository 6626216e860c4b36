// Fuzzes audit log verification: the log file is untrusted input to wardenctl audit verify.
#include <cstddef>
#include <cstdint>

#include "common/audit_chain.h"
#include "common/sshbuf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const warden::PublicKey key = [] {
    warden::SshWriter w;
    w.String("ssh-ed25519");
    // The Ed25519 base point: a valid public key whose private key nobody will present.
    w.String(warden::Bytes{0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                           0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                           0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66});
    return *warden::ParsePublicKey(w.bytes());
  }();
  (void)warden::VerifyAuditLog(warden::AsChars(warden::ByteSpan(data, size)), key, std::nullopt);
  return 0;
}
