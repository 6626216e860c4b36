// OpenSSH public keys and signatures: the wire blobs of RFC 4253 section 6.6, RFC 5656
// (ECDSA), RFC 8709 (Ed25519), RFC 8332 (RSA SHA-2) and OpenSSH's PROTOCOL.u2f (sk-* keys).
//
// Parsing and policy are separate: ParsePublicKey accepts every well-formed key of a known
// type (including ssh-dss, so the refusal can say why); CheckUserKeyAcceptable applies policy
// and returns a reason a person can act on.
#pragma once

#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/status.h"

namespace warden {

enum class KeyType {
  kEd25519,
  kEcdsaP256,
  kEcdsaP384,
  kEcdsaP521,
  kRsa,
  kDsa,
  kSkEd25519,
  kSkEcdsaP256,
};

// "ssh-ed25519", "ecdsa-sha2-nistp256", ... as on the wire.
std::string_view KeyTypeName(KeyType t);
// The matching certificate type name, e.g. "ssh-ed25519-cert-v01@openssh.com".
std::string_view CertTypeName(KeyType t);
absl::StatusOr<KeyType> KeyTypeFromName(std::string_view name);
absl::StatusOr<KeyType> KeyTypeFromCertName(std::string_view name);

// Hard cap on a public key blob; larger keys are refused before any parsing.
inline constexpr size_t kMaxPublicKeyBytes = 16 * 1024;

struct PublicKey {
  KeyType type = KeyType::kEd25519;
  Bytes blob;         // the whole wire blob, starting with the type string
  size_t fields_offset = 0;  // where the type-specific fields start inside blob
  int bits = 0;       // RSA/DSA modulus size, curve size for ECDSA, 256 for Ed25519

  // The type-specific fields (everything after the type string), as embedded in certificates.
  ByteSpan fields() const { return ByteSpan(blob).subspan(fields_offset); }
};

// Parses a public key wire blob. Trailing bytes are an error.
absl::StatusOr<PublicKey> ParsePublicKey(ByteSpan blob);
// Parses the fields of a key of a known type from `r` (used by the certificate parser);
// `blob` is filled by the caller.
absl::StatusOr<int> ParseKeyFields(KeyType type, class SshReader& r);
// Parses an authorized_keys style line "type base64 [comment]". `comment` may be null.
absl::StatusOr<PublicKey> ParseAuthorizedKey(std::string_view line, std::string* comment);
std::string FormatAuthorizedKey(const PublicKey& key, std::string_view comment);
// "SHA256:<base64 without padding>", as printed by ssh-keygen -l.
std::string Fingerprint(ByteSpan blob);

// Policy for keys presented for signing: refuses DSA, RSA under 2048 bits and oversized keys.
absl::Status CheckUserKeyAcceptable(const PublicKey& key);

// The key as an OpenSSL public key (not for sk-* keys).
absl::StatusOr<EvpPkeyPtr> ToEvpPkey(const PublicKey& key);
// The SSH wire blob of an Ed25519 or ECDSA P-256 OpenSSL key.
absl::StatusOr<Bytes> PublicKeyBlobFromEvp(EVP_PKEY* key);

// A signature as produced by a signer: Ed25519 = 64 bytes; ECDSA = r || s, each padded to the
// field size.
struct RawSignature {
  KeyType type;
  Bytes raw;
};

// The SSH signature blob: string algorithm, string signature (ECDSA: mpint r, mpint s).
Bytes EncodeSshSignature(const RawSignature& sig);
// DER ECDSA-Sig-Value from r || s (for X.509); Ed25519 signatures are returned unchanged.
absl::StatusOr<Bytes> RawSignatureToDer(const RawSignature& sig);
// Verifies an SSH signature blob made by `signer` over `data`.
absl::Status VerifySshSignature(const PublicKey& signer, ByteSpan signature, ByteSpan data);

}  // namespace warden
