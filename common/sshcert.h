// OpenSSH certificates (draft-miller-ssh-cert, formerly PROTOCOL.certkeys).
//
//   string  cert type ("ssh-ed25519-cert-v01@openssh.com", ...)
//   string  nonce
//   ...     the key's type-specific fields
//   uint64  serial
//   uint32  type (1 = user, 2 = host)
//   string  key id
//   string  valid principals (a sequence of strings)
//   uint64  valid after
//   uint64  valid before
//   string  critical options (name, data; data is itself a string-wrapped value)
//   string  extensions (same shape)
//   string  reserved
//   string  signature key
//   string  signature
//
// Options and extensions must be sorted by name without duplicates; the encoder sorts them and
// the parser rejects unsorted input, as OpenSSH does.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/sshkey.h"

namespace warden {

inline constexpr uint32_t kUserCert = 1;
inline constexpr uint32_t kHostCert = 2;
// Caps applied by the parser; far above anything Warden issues.
inline constexpr size_t kMaxPrincipals = 256;
inline constexpr size_t kMaxCertBytes = 64 * 1024;

struct Certificate {
  PublicKey key;  // the certified key
  Bytes nonce;
  uint64_t serial = 0;
  uint32_t type = kUserCert;
  std::string key_id;
  std::vector<std::string> principals;
  uint64_t valid_after = 0;
  uint64_t valid_before = 0;
  std::map<std::string, std::string> critical_options;  // name -> value ("" for flags)
  std::map<std::string, std::string> extensions;
  Bytes signature_key;  // the CA's public key blob
  Bytes signature;      // SSH signature blob; empty until signed
  size_t signed_length = 0;  // set by the parser: bytes covered by the signature
};

// Everything the CA signs: the certificate up to and including the signature key.
Bytes EncodeCertificateToBeSigned(const Certificate& cert);
// The full certificate blob (to-be-signed bytes followed by the signature string).
Bytes EncodeCertificate(const Certificate& cert);
// "TYPE-cert-v01@openssh.com BASE64 comment", the format of a -cert.pub file.
std::string FormatCertificateLine(const Certificate& cert, std::string_view comment);

// Parses a certificate blob; does not verify the signature.
absl::StatusOr<Certificate> ParseCertificate(ByteSpan blob);
// Parses a "-cert.pub" line.
absl::StatusOr<Certificate> ParseCertificateLine(std::string_view line);
// Verifies the CA signature over the certificate as parsed from `blob`.
absl::Status VerifyCertificate(const Certificate& cert, ByteSpan blob);

}  // namespace warden
