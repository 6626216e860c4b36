// Host enrollment: admins create single-use join tokens bound to a tier and labels; a host
// presents one exactly once and receives an X.509 client certificate (OU=host, CN=its host id)
// from the cluster CA and an SSH host certificate from the host CA. The controller stores only
// the SHA-256 of a token.
#pragma once

#include <map>
#include <string>

#include "controller/core/certificate_authority.h"
#include "controller/core/operator_auth.h"

namespace warden {

inline constexpr std::string_view kHostOu = "host";
inline constexpr int64_t kHostCertTtl = 30 * 86400;
inline constexpr int64_t kDefaultJoinTokenTtl = 3600;
inline constexpr int64_t kMaxJoinTokenTtl = 7 * 86400;

struct IssuedJoinToken {
  std::string token;
  int tier = 0;
  int64_t expires = 0;
};

struct Enrollment {
  std::string host_id;
  int tier = 0;
  std::map<std::string, std::string> labels;
  std::string certificate_pem;
  std::string ssh_host_certificate;
  int64_t expires = 0;
};

class HostRegistry {
 public:
  HostRegistry(const Policy& policy, Store& store, KeyStore& keys, CertificateAuthority& ca,
               const Clock& clock, std::string cluster_ca_label, X509Ptr cluster_ca_cert)
      : policy_(policy), store_(store), keys_(keys), ca_(ca), clock_(clock),
        ca_label_(std::move(cluster_ca_label)), ca_cert_(std::move(cluster_ca_cert)) {}

  // Admins only. ttl 0 = one hour; at most a week.
  absl::StatusOr<IssuedJoinToken> CreateJoinToken(const Identity& who, int tier,
                                                  const std::map<std::string, std::string>& labels,
                                                  int64_t ttl);
  absl::StatusOr<Enrollment> Enroll(std::string_view token, std::string_view hostname,
                                    std::string_view csr_pem, std::string_view ssh_host_key);

 private:
  const Policy& policy_;
  Store& store_;
  KeyStore& keys_;
  CertificateAuthority& ca_;
  const Clock& clock_;
  std::string ca_label_;
  X509Ptr ca_cert_;
};

// Parses "k=v,k2=v2" (keys and values: lowercase letters, digits, '.', '_', '-').
absl::StatusOr<std::map<std::string, std::string>> ParseLabels(std::string_view text);

}  // namespace warden
