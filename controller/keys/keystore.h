// Where the controller's private keys live. Keys are addressed by label and never leave the
// store: callers get public keys and signatures only.
//
// Implementations: Pkcs11KeyStore (SoftHSM2 on a fresh machine, any PKCS#11 HSM in production)
// and SoftwareKeyStore (in-memory OpenSSL keys, for unit tests and as the in-process baseline
// in benchmarks). Both are safe to call from many threads at once.
#pragma once

#include <string>
#include <string_view>

#include "common/sshkey.h"

namespace warden {

enum class KeyAlgorithm { kEd25519, kEcdsaP256 };

// What `init --algorithm auto` makes every CA and signing key with. ECDSA P-256, because sshd
// checks a user certificate's CA signature three to five times per login and the host
// certificate's once more, and OpenSSH verifies Ed25519 with its own portable code (about 2.3 ms a
// signature on a small VM) but P-256 through OpenSSL (0.05 ms); every PKCS#11 token has it.
inline constexpr KeyAlgorithm kDefaultKeyAlgorithm = KeyAlgorithm::kEcdsaP256;

absl::StatusOr<KeyAlgorithm> KeyAlgorithmFromName(std::string_view name);  // "ed25519", "ecdsa-p256"
std::string_view KeyAlgorithmName(KeyAlgorithm alg);

class KeyStore {
 public:
  virtual ~KeyStore() = default;

  // Creates a key pair named `label`. REQUIRES: no key with that label exists.
  virtual absl::StatusOr<PublicKey> Generate(std::string_view label, KeyAlgorithm alg) = 0;
  virtual absl::StatusOr<PublicKey> GetPublicKey(std::string_view label) = 0;
  // Signs `data`: Ed25519 over the message itself, ECDSA P-256 over its SHA-256.
  virtual absl::StatusOr<RawSignature> Sign(std::string_view label, ByteSpan data) = 0;

  // A key-encryption key (the vault's): AES-256, generated inside the store, never leaving it.
  // REQUIRES: no key with that label exists.
  virtual absl::Status GenerateEncryptionKey(std::string_view label) = 0;
  // AES-256-GCM under that key, done inside the store; the blob is laid out as in
  // common/aead.h (nonce || ciphertext || tag). Decrypt: DataLoss if it does not authenticate.
  virtual absl::StatusOr<Bytes> Encrypt(std::string_view label, ByteSpan aad, ByteSpan plaintext) = 0;
  virtual absl::StatusOr<SecretBytes> Decrypt(std::string_view label, ByteSpan aad, ByteSpan blob) = 0;

  // A MAC key (the audit log's and vault's HMAC-SHA256 key): a 256-bit generic secret generated
  // inside the store, usable only to sign (MAC), never leaving it. REQUIRES: no key with that
  // label exists.
  virtual absl::Status GenerateMacKey(std::string_view label) = 0;
  // Moves an existing MAC key into the store (a data directory from before the key lived there);
  // from then on it never leaves. REQUIRES: no key with that label exists.
  virtual absl::Status ImportMacKey(std::string_view label, ByteSpan key) = 0;
  // HMAC-SHA256 of `data` under that key, computed inside the store. NotFound: no such key.
  virtual absl::StatusOr<Bytes> Mac(std::string_view label, ByteSpan data) = 0;
};

// Signs `data` and returns the SSH signature blob.
absl::StatusOr<Bytes> SignSsh(KeyStore& store, std::string_view label, ByteSpan data);

}  // namespace warden
