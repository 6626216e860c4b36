// OpenSSH Key Revocation Lists (PROTOCOL.krl). Warden writes unsigned KRLs that revoke
// certificates by serial and by key id, per CA key; OpenSSH >= 9.4 refuses signed KRLs, so the
// signature section is rejected by the parser too.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/sshcert.h"

namespace warden {

struct KrlCertSection {
  Bytes ca_key;  // CA public key blob; empty means "any CA" (key ids only)
  std::set<uint64_t> serials;
  std::vector<std::pair<uint64_t, uint64_t>> serial_ranges;  // inclusive, from parsed KRLs
  std::set<std::string> key_ids;
};

struct Krl {
  uint64_t version = 0;
  uint64_t generated_date = 0;
  std::string comment;
  std::vector<KrlCertSection> cert_sections;
  std::set<Bytes> explicit_keys;       // whole key blobs
  std::set<Bytes> sha1_fingerprints;   // of key blobs
  std::set<Bytes> sha256_fingerprints;
};

// Encodes `krl`; serials and key ids are written in ascending order.
Bytes EncodeKrl(const Krl& krl);
// Parses a KRL. Limits the total number of entries to keep memory bounded.
absl::StatusOr<Krl> ParseKrl(ByteSpan blob);
// True when `cert` (a certificate signed by its signature_key) is revoked by `krl`.
bool KrlRevokesCertificate(const Krl& krl, const Certificate& cert);

}  // namespace warden
