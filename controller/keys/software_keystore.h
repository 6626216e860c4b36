// In-memory OpenSSL keys. Nothing is persisted: for unit tests and benchmarks only.
#pragma once

#include <map>
#include <mutex>

#include "controller/keys/keystore.h"

namespace warden {

class SoftwareKeyStore final : public KeyStore {
 public:
  absl::StatusOr<PublicKey> Generate(std::string_view label, KeyAlgorithm alg) override;
  absl::StatusOr<PublicKey> GetPublicKey(std::string_view label) override;
  absl::StatusOr<RawSignature> Sign(std::string_view label, ByteSpan data) override;
  absl::Status GenerateEncryptionKey(std::string_view label) override;
  absl::StatusOr<Bytes> Encrypt(std::string_view label, ByteSpan aad, ByteSpan plaintext) override;
  absl::StatusOr<SecretBytes> Decrypt(std::string_view label, ByteSpan aad, ByteSpan blob) override;
  absl::Status GenerateMacKey(std::string_view label) override;
  absl::Status ImportMacKey(std::string_view label, ByteSpan key) override;
  absl::StatusOr<Bytes> Mac(std::string_view label, ByteSpan data) override;

 private:
  struct Entry {
    KeyAlgorithm alg;
    EvpPkeyPtr key;
    PublicKey pub;
  };
  absl::StatusOr<const Entry*> Find(std::string_view label);

  std::mutex mu_;
  std::map<std::string, Entry, std::less<>> keys_;
  std::map<std::string, SecretBytes, std::less<>> secret_keys_;
  std::map<std::string, SecretBytes, std::less<>> mac_keys_;
};

}  // namespace warden
