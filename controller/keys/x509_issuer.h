// X.509 certificates for the cluster's mutual TLS, signed by the cluster CA key inside a
// KeyStore. OpenSSL builds the TBSCertificate; the signature comes from the KeyStore, so the CA
// private key never enters this process.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "controller/keys/keystore.h"

namespace warden {

struct X509Profile {
  std::string common_name;
  std::string organizational_unit;  // "operator", "controller", "host"
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  bool is_ca = false;
  bool server_auth = false;
  bool client_auth = false;
  int64_t not_before_unix = 0;
  int64_t not_after_unix = 0;
};

// Issues a certificate for `subject_key` under the CA key `ca_label`. `issuer` is the CA
// certificate, or null for a self-signed CA certificate (then `subject_key` must be the CA key's
// public half).
absl::StatusOr<X509Ptr> IssueX509(KeyStore& store, std::string_view ca_label, X509* issuer,
                                  EVP_PKEY* subject_key, const X509Profile& profile);

// The OpenSSL public key of a KeyStore key (for the self-signed CA certificate).
absl::StatusOr<EvpPkeyPtr> KeyStorePublicEvp(KeyStore& store, std::string_view label);

}  // namespace warden
