// The policy's `databases:` section: the database servers Warden holds an admin credential for
// (connections) and the roles operators ask short-lived credentials of (controller/core/
// db_credentials.h). Statement templates are checked here, at load: a template names only
// {{name}}, {{name_literal}}, {{password}} and {{expiration}}, and never puts one inside quotes of
// its own, since
// Warden substitutes each as a quoted identifier or literal.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace YAML {
class Node;
}

namespace warden {

struct DbConnectionPolicy {
  std::string name;
  std::string host = "127.0.0.1";
  int port = 5432;
  std::string database = "postgres";
  std::string admin_user;
  std::string admin_password_path;  // the vault path of the admin's password
  std::vector<std::string> allowed_roles;
  // TLS to the server (libpq's sslmode): disable, require, verify-ca or verify-full. Default:
  // verify-full, or disable for a loopback address or a socket directory. `ca_file` holds the
  // CAs a verify-* mode trusts (default: the system's bundle).
  std::string sslmode;
  std::string ca_file;
};

struct DbRolePolicy {
  std::string name;
  std::string connection;
  std::vector<std::string> requester_groups;
  std::vector<std::string> creation_statements, revocation_statements, renew_statements;
  int64_t default_ttl = 3600;
  int64_t max_ttl = 86400;  // from the lease's creation, renewals included
  // {{role}}, {{user}} (the requester, reduced to [a-z0-9_]) and {{random}}, which it must hold;
  // the text before the first placeholder is the prefix the orphan scan looks for.
  std::string username_template = "w_{{role}}_{{user}}_{{random}}";

  std::string_view UsernamePrefix() const {
    return std::string_view(username_template).substr(0, username_template.find("{{"));
  }
};

struct DatabasePolicy {
  std::map<std::string, DbConnectionPolicy> connections;
  std::map<std::string, DbRolePolicy> roles;
};

// Parses `databases: {connections: {...}, roles: {...}}`; `groups` are the policy's groups.
absl::Status ParseDatabases(const YAML::Node& n,
                            const std::map<std::string, std::set<std::string>>& groups,
                            DatabasePolicy& out);

// A statement template: only {{name}}, {{name_literal}}, {{password}}, {{expiration}}, none inside a quoted
// string, quoted identifier or dollar-quoted body.
absl::Status CheckStatementTemplate(std::string_view statement);

}  // namespace warden
