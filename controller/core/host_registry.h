// Host enrollment: admins create single-use join tokens bound to a tier, labels and the
// hostnames they may enroll; a host presents one exactly once, as one of those names, and
// receives an X.509 client certificate (OU=host, CN=its host id, DNS=its name) from the cluster
// CA and an SSH host certificate for its name from its tier's host CA. The controller stores
// only the SHA-256 of a token.
#pragma once

#include <map>
#include <string>

#include "controller/core/certificate_authority.h"
#include "controller/core/access.h"
#include "controller/core/operator_auth.h"
#include "controller/store/host_store.h"

namespace warden {

inline constexpr std::string_view kHostOu = "host";
// What a join token enrolls (store/types.h): a host running wardend, or an SSH gateway
// (warden-sshgw) that brokers sessions to targets without wardend. A gateway is never sent a
// host's state (accounts, trusted CA keys), and only a gateway may open brokered sessions
// (core/broker.h).
inline constexpr int64_t kHostCertTtl = 30 * 86400;
inline constexpr int64_t kDefaultJoinTokenTtl = 3600;
inline constexpr int64_t kMaxJoinTokenTtl = 7 * 86400;
// The largest Enroll fields accepted (a token is 56 characters; an RSA-16384 host key's line
// is under 3 KiB).
inline constexpr size_t kMaxJoinTokenBytes = 128;
inline constexpr size_t kMaxHostnameBytes = 253;
inline constexpr size_t kMaxSshHostKeyBytes = 8192;

// The most hostnames (or patterns) one join token may name, and the most hosts it may enroll.
inline constexpr size_t kMaxJoinTokenHostnames = 64;
inline constexpr int kMaxJoinTokenUses = 10000;

struct IssuedJoinToken {
  std::string token;
  std::string kind;
  int tier = 0;
  int64_t expires = 0;
  std::vector<std::string> hostnames;
  int uses = 1;
};

struct Enrollment {
  std::string host_id;
  int replaced = 0;  // earlier identities of the same name this enrollment replaced
  std::string kind;
  int tier = 0;
  std::map<std::string, std::string> labels;
  std::string certificate_pem;
  std::string ssh_host_certificate;
  int64_t expires = 0;
};

// One ephemeral account as a host must hold it.
struct HostAccount {
  GrantRow grant;
  // The account's primary group: a group of its own, numbered as its uid. Uids and group ids
  // come from one never-reused range, so the number is no other group's.
  uint32_t gid = 0;
  std::string gecos, home, shell, sudo_rule, recording_input, recording_mode;
  uint32_t max_redacted_lines = 3;
  std::string on_redaction_limit;  // alert, hold, end
  std::vector<std::string> groups;
  int moderators_required = 0;
  std::string moderator_on_leave;  // only with moderators_required
  int64_t moderator_wait = 0;      // only with moderators_required or on_redaction_limit hold
};

struct HostGroup {
  std::string name;
  uint32_t gid = 0;
  std::vector<std::string> members;
  int64_t expires = 0;  // the last member's lease end
};

// Everything a host holds, as of `revision` (the store's host_state counter).
struct HostState {
  int64_t revision = 0;
  std::string host_id;
  int tier = 0;
  std::vector<std::string> trusted_user_ca_keys;  // authorized_keys lines
  KrlSnapshot krl;
  std::vector<HostAccount> accounts;
  std::vector<HostGroup> groups;
};

inline constexpr std::string_view kHomeRoot = "/home";

class HostRegistry {
 public:
  // `access` holds the live grants, managed groups and the host state revision a host is sent.
  HostRegistry(const Policy& policy, HostStore& store, AccessStore& access, KeyStore& keys,
               CertificateAuthority& ca, const Clock& clock, std::string cluster_ca_label,
               X509Ptr cluster_ca_cert)
      : policy_(policy), store_(store), access_store_(access), keys_(keys), ca_(ca), clock_(clock),
        ca_label_(std::move(cluster_ca_label)), ca_cert_(std::move(cluster_ca_cert)) {}

  // Admins only. ttl 0 = one hour; at most a week. `hostnames`: the names the token may enroll,
  // 1..kMaxJoinTokenHostnames of them; a name may hold '*' (one label's part or whole: letters,
  // digits and '-', never a '.'), "web-*.prod.example.com". `kind`: what it enrolls, kHostKind or
  // kGatewayKind. `uses`: how many hosts it may enroll (1..kMaxJoinTokenUses), for a fleet.
  absl::StatusOr<IssuedJoinToken> CreateJoinToken(const Identity& who, int tier,
                                                  const std::map<std::string, std::string>& labels,
                                                  int64_t ttl,
                                                  const std::vector<std::string>& hostnames,
                                                  std::string_view kind = kHostKind, int uses = 1);
  // Refused unless `hostname` is one the token names (or matches) and `kind` the kind it
  // enrolls, and the token has a use left. A host enrolled as the name of a current one of its
  // kind (a reimaged machine) replaces it: the old identity's certificate is refused from then on.
  absl::StatusOr<Enrollment> Enroll(std::string_view token, std::string_view hostname,
                                    std::string_view csr_pem, std::string_view ssh_host_key,
                                    std::string_view kind = kHostKind);

  // The host behind a client certificate (OU=host), if it is still enrolled and unexpired.
  absl::StatusOr<Identity> IdentityFromCertificate(std::string_view pem);
  // The enrolled host `host_id` (from its client certificate), or why it cannot be served.
  absl::StatusOr<HostRow> Host(std::string_view host_id);
  // What `host_id` must hold now: its tier's trusted user CA keys, the KRL, and the accounts of
  // the live grants whose role selects it (same tier, labels match).
  absl::StatusOr<HostState> State(std::string_view host_id);
  // A fresh client certificate for the key in `csr_pem`, same identity, full lifetime.
  absl::StatusOr<Enrollment> Renew(std::string_view host_id, std::string_view csr_pem);

 private:
  // Fills e.certificate_pem and e.expires: OU=host, CN=e.host_id, DNS=hostname.
  absl::Status IssueClientCertificate(const std::string& hostname, EVP_PKEY* key, Enrollment& e);

  const Policy& policy_;
  HostStore& store_;
  AccessStore& access_store_;
  KeyStore& keys_;
  CertificateAuthority& ca_;
  const Clock& clock_;
  std::string ca_label_;
  X509Ptr ca_cert_;
};

// Parses "k=v,k2=v2" (keys and values: lowercase letters, digits, '.', '_', '-').
absl::StatusOr<std::map<std::string, std::string>> ParseLabels(std::string_view text);

}  // namespace warden
