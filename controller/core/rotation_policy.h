// The policy's `rotation:` section: which vaulted credentials Warden owns on their target, how
// often it changes them, how often it proves the vaulted value still works, and what a new
// password looks like (controller/core/rotation.h runs it).
//
//   rotation:
//     targets:
//       "db/appdb/reporting":             # the vault path that holds the credential
//         kind: postgres                  # supported: postgres, ssh, ldap, ad, linux
//         connection: appdb               # a databases.connections entry
//         user: reporting                 # the role (default: the connection's admin_user,
//                                         #   which is rotate-root: Warden's own admin password)
//         period: 30d                     # scheduled rotation (absent or 0: on demand and
//                                         #   after use only)
//         jitter: 1d                      # each scheduled rotation comes up to this much early,
//                                         #   at random, so targets never rotate in lockstep
//         reconcile_every: 1h             # proves the vaulted value logs in (default 1h)
//         password: {length: 32, classes: [lower, upper, digit, symbol], exclude: "\"'\\`"}
//       "kv/appliance/core-banking":      # an appliance that takes passwords over SSH
//         kind: ssh
//         host: 10.1.2.3                  # port: 22 by default
//         user: admin
//         host_key: "ssh-ed25519 AAAA..." # pinned: any other key is refused before a password
//                                         #   is sent
//         change_command: "/opt/bin/set-password"   # run after logging in with the current
//                                         #   password; reads the current and the new one, one
//                                         #   per line, on stdin; exit 0 = changed
//       "kv/ldap/svc-backup":             # a directory account that changes its own password
//         kind: ldap
//         url: ldaps://ldap.example.org   # or ldap://... with start_tls: true
//         ca_file: /etc/warden/ldap-ca.pem   # default: the system's CAs
//         dn: "uid=svc-backup,ou=people,dc=example,dc=org"
//       "ad/svc-appliance":               # an Active Directory account (unicodePwd, over TLS)
//         kind: ad                        #   url, ca_file, start_tls and dn as for ldap
//         url: ldaps://dc1.corp.example
//         dn: "CN=svc-appliance,OU=Service,DC=corp,DC=example"
//         admin: ad/warden-bind           # reset by this target's account (absent: the account
//                                         #   changes its own password, as ad/warden-bind does)
//       "kv/hosts/db1/root":              # a local account of an enrolled host, set and proven
//         kind: linux                     #   by its wardend (/etc/shadow, the host's PAM stack)
//         host: db1                       # the name the host enrolled as
//         user: root                      # the host must list it in host.yaml rotate_accounts
//
// A connection's admin password path is a target even when not listed here (no schedule,
// reconciled hourly), so `wardenctl db rotate-root CONNECTION` always has one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "controller/core/db_policy.h"

namespace YAML {
class Node;
}

namespace warden {

struct PasswordPolicy {
  int length = 32;  // 12..128
  // Character classes each password draws at least one character from: lower, upper, digit,
  // symbol (the printable ASCII punctuation).
  std::vector<std::string> classes = {"lower", "upper", "digit", "symbol"};
  std::string exclude;  // characters never used (a target that cannot take a quote, say)
};

struct RotationTargetPolicy {
  std::string path;        // the vault path of the credential
  std::string kind;        // postgres, ssh, ldap, ad, linux
  std::string connection;  // postgres: the databases.connections entry
  std::string user;        // the account whose password changes (postgres: a role; ldap: a DN)
  // ssh (and linux: the host's enrolled name):
  std::string host;
  int port = 22;
  Bytes host_key;  // the pinned host key's wire blob
  std::string change_command;
  // ldap and ad:
  std::string url, ca_file;
  bool start_tls = false;
  // ad: the target whose account resets this one (empty: it changes its own), and its DN.
  std::string admin_path, admin_dn;
  int64_t period = 0;      // 0: no scheduled rotation
  int64_t jitter = 0;
  int64_t reconcile_every = 3600;
  PasswordPolicy password;
  bool listed = true;  // false: a connection's admin path the policy does not list
};

struct RotationPolicy {
  std::map<std::string, RotationTargetPolicy, std::less<>> targets;  // by vault path

  // The target at `path`: a listed one, or the admin path of a database connection.
  // nullptr: `path` is not a rotation target.
  const RotationTargetPolicy* TargetFor(std::string_view path) const;
};

// Parses `rotation: {targets: {...}}`. `databases` is the already parsed databases section:
// postgres targets name one of its connections. Also adds each connection's admin path that is
// not listed (see above).
absl::Status ParseRotation(const YAML::Node& n, const DatabasePolicy& databases,
                           RotationPolicy& out);

// A password under `p`: uniformly random over the allowed characters, at least one of each
// class. REQUIRES: `p` passed ParseRotation's checks (CheckPasswordPolicy).
SecretBytes GeneratePassword(const PasswordPolicy& p);
absl::Status CheckPasswordPolicy(const PasswordPolicy& p, std::string_view where);

}  // namespace warden
