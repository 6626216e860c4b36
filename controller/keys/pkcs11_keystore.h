// Keys inside a PKCS#11 token (SoftHSM2 by default; any HSM with a PKCS#11 module). Private keys
// are generated on the token as sensitive and non-extractable; signing happens on the token.
//
// Sessions: PKCS#11 sessions are not safe to share between threads, so the store keeps a pool
// and each Sign borrows one. Login state is per application, so one C_Login covers the pool.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "common/bytes.h"
#include "controller/keys/keystore.h"

namespace warden {

struct Pkcs11Config {
  std::string module_path = "/usr/lib/softhsm/libsofthsm2.so";
  std::string token_label = "warden";
  std::string pin;
  int sessions = 8;
};

class Pkcs11KeyStore final : public KeyStore {
 public:
  // Creates and initialises a token labelled `token_label` in the first free slot, with the given
  // SO PIN and user PIN. For SoftHSM2, SOFTHSM2_CONF must point at its configuration.
  static absl::Status InitToken(const Pkcs11Config& config, std::string_view so_pin);
  // Opens the token and logs in.
  static absl::StatusOr<std::unique_ptr<Pkcs11KeyStore>> Open(const Pkcs11Config& config);
  ~Pkcs11KeyStore() override;

  // Whether the token can make keys of `alg` (every token has P-256; Ed25519 needs CKM_EDDSA).
  bool Supports(KeyAlgorithm alg);
  absl::StatusOr<PublicKey> Generate(std::string_view label, KeyAlgorithm alg) override;
  absl::StatusOr<PublicKey> GetPublicKey(std::string_view label) override;
  absl::StatusOr<RawSignature> Sign(std::string_view label, ByteSpan data) override;
  // CKM_AES_KEY_GEN: token, private, sensitive, never extractable, encrypt/decrypt only.
  absl::Status GenerateEncryptionKey(std::string_view label) override;
  // CKM_AES_GCM on the token (96-bit random IV, 128-bit tag).
  absl::StatusOr<Bytes> Encrypt(std::string_view label, ByteSpan aad, ByteSpan plaintext) override;
  absl::StatusOr<SecretBytes> Decrypt(std::string_view label, ByteSpan aad, ByteSpan blob) override;
  absl::Status GenerateMacKey(std::string_view label) override;
  absl::Status ImportMacKey(std::string_view label, ByteSpan key) override;
  absl::StatusOr<Bytes> Mac(std::string_view label, ByteSpan data) override;

  struct Impl;

 private:
  explicit Pkcs11KeyStore(std::unique_ptr<Impl> impl);
  // A generic secret usable only for MACs, sensitive and never extractable: generated on the
  // token when `value` is empty, else imported.
  absl::Status CreateMacKey(std::string_view label, ByteSpan value);
  std::unique_ptr<Impl> impl_;
};

}  // namespace warden
