// The SSH certificate authority: one user CA and one host CA per tier, all inside the KeyStore.
// A host of tier N gets its host certificate from tier N's host CA, so a client that trusts
// tier 0's host CA (@cert-authority) never accepts a host certificate that a tier-1 or tier-2
// join token produced.
//
// Issuance signs an operator's key under an active grant: principal = the grant's login,
// validity [now - 60s, min(grant end, now + role cert_ttl)], key id "user:grant:serial", a
// random unique non-zero 64-bit serial, the role's extensions and its mandatory critical
// options (which a request may narrow but never drop).
//
// Rotation per tier: Rotate adds a new key that becomes the issuing key while the old one stays
// trusted ("retiring"); FinishRotation drops the retiring key from the trusted set.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/krl.h"
#include "controller/core/access.h"
#include "controller/keys/keystore.h"
#include "controller/store/access_store.h"

namespace warden {

struct SignRequest {
  std::string grant_id;
  std::string public_key;  // authorized_keys line
  std::vector<std::string> source_addresses;
  std::string force_command;
  std::vector<std::string> extensions;
};

struct IssuedCertificate {
  Certificate cert;
  std::string line;  // -cert.pub contents
  std::string ca_fingerprint;
};

struct KrlSnapshot {
  uint64_t version = 0;
  Bytes blob;
  uint32_t revoked = 0;
};

class CertificateAuthority {
 public:
  CertificateAuthority(AccessCore& access, AccessStore& store, KeyStore& keys, const Clock& clock)
      : access_(access), store_(store), keys_(keys), clock_(clock) {}

  // Creates the user CA and the host CA of every tier (controller init).
  absl::Status CreateInitialKeys(KeyAlgorithm alg);
  // Creates the host CA of every tier that has none, with the algorithm of an existing host CA
  // (controller start). A data directory from before per-tier host CAs holds one host CA, stored
  // as tier 0's: it stays tier 0's, and tiers 1..kMaxTier get new ones.
  absl::Status EnsureHostCas();

  absl::StatusOr<IssuedCertificate> SignUserKey(const Identity& who, const SignRequest& req);
  // An SSH host certificate for `key` with principal `hostname`, key id "host:HOST_ID", valid
  // [now - 60s, now + ttl], signed by the active host CA of `tier`.
  absl::StatusOr<IssuedCertificate> SignHostKey(const PublicKey& key, std::string_view hostname,
                                                std::string_view host_id, int tier, int64_t ttl);
  absl::StatusOr<std::vector<CaKeyRow>> TrustedKeys(std::string_view purpose, int tier);
  // Starts a rotation of `tier`'s user CA (the new key's algorithm: `algorithm`, else the current
  // key's), or with `finish` ends one.
  absl::StatusOr<std::vector<CaKeyRow>> Rotate(const Identity& who, int tier, bool finish,
                                               std::optional<KeyAlgorithm> algorithm = {});
  // The KRL of every live certificate of a revoked grant, rebuilt when the version moves.
  absl::StatusOr<KrlSnapshot> CurrentKrl();

 private:
  absl::StatusOr<CaKeyRow> IssuingKey(int tier);

  AccessCore& access_;
  AccessStore& store_;
  KeyStore& keys_;
  const Clock& clock_;
  std::mutex mu_;  // guards the caches below and serialises rotation
  std::map<int, CaKeyRow> issuing_;  // tier -> issuing key
  KrlSnapshot krl_;
  bool krl_valid_ = false;
};

}  // namespace warden
