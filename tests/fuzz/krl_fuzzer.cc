// Fuzzes the KRL parser; whatever parses must re-encode to a KRL that parses again.
#include <cstddef>
#include <cstdint>

#include "common/krl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto krl = warden::ParseKrl(warden::ByteSpan(data, size));
  if (krl.ok()) {
    warden::Certificate probe;
    probe.serial = 42;
    probe.key_id = "alice:g-1:42";
    if (!krl->cert_sections.empty()) probe.signature_key = krl->cert_sections[0].ca_key;
    (void)warden::KrlRevokesCertificate(*krl, probe);
    if (!warden::ParseKrl(warden::EncodeKrl(*krl)).ok()) __builtin_trap();
  }
  return 0;
}
