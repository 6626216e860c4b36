// Fuzzes the OpenSSH certificate parser and signature verification over what it accepts.
#include <cstddef>
#include <cstdint>

#include "common/sshcert.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  warden::ByteSpan in(data, size);
  auto cert = warden::ParseCertificate(in);
  if (cert.ok()) {
    (void)warden::VerifyCertificate(*cert, in);
    // Whatever parses must re-encode and parse again.
    warden::Bytes again = warden::EncodeCertificate(*cert);
    if (!warden::ParseCertificate(again).ok()) __builtin_trap();
  }
  (void)warden::ParseCertificateLine(warden::AsChars(in));
  return 0;
}
