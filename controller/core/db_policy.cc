#include "controller/core/db_policy.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "common/duration.h"
#include "common/strings.h"
#include "controller/core/policy_yaml.h"

namespace warden {
namespace {

absl::Status CheckUsernameTemplate(const std::string& t, const std::string& where) {
  if (t.find("{{random}}") == std::string::npos)
    return absl::InvalidArgumentError(
        StrCat(where, ".username_template must contain {{random}}: two leases never share a role"));
  if (t.find("{{") == 0 || t.find("{{") == std::string::npos)
    return absl::InvalidArgumentError(
        StrCat(where, ".username_template must start with a fixed prefix (e.g. w_) that the "
                      "orphan scan can look for"));
  for (size_t i = 0; i < t.size(); i++) {
    if (t.compare(i, 2, "{{") == 0) {
      const size_t end = t.find("}}", i);
      const std::string name = end == std::string::npos ? "" : t.substr(i + 2, end - i - 2);
      if (name != "role" && name != "user" && name != "random")
        return absl::InvalidArgumentError(StrCat(
            where, ".username_template: unknown placeholder; supported: {{role}}, {{user}}, {{random}}"));
      i = end + 1;
    } else if (!IsLowerAlpha(t[i]) && !IsDigit(t[i]) && t[i] != '_') {
      return absl::InvalidArgumentError(
          StrCat(where, ".username_template: fixed text may use a-z, 0-9 and _ only"));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseConnection(const std::string& name, const YAML::Node& n, DbConnectionPolicy& c) {
  const std::string where = StrCat("databases.connections.", name);
  RETURN_IF_ERROR(PolicyOnlyKeys(n, where, {"host", "port", "database", "admin_user",
                                      "admin_password", "allowed_roles", "sslmode", "ca_file"}));
  c.name = name;
  c.host = n["host"].as<std::string>(c.host);
  c.port = n["port"].as<int>(c.port);
  c.database = n["database"].as<std::string>(c.database);
  c.admin_user = n["admin_user"].as<std::string>("");
  c.admin_password_path = n["admin_password"].as<std::string>("");
  c.allowed_roles = PolicyStrings(n["allowed_roles"], where + ".allowed_roles");
  if (c.admin_user.empty() || c.admin_password_path.empty())
    return absl::InvalidArgumentError(
        StrCat(where, " needs admin_user and admin_password (the vault path of its password)"));
  if (c.port < 1 || c.port > 65535)
    return absl::InvalidArgumentError(StrCat(where, ".port must be between 1 and 65535"));
  if (c.host.empty() || c.host.find(',') != std::string::npos)
    return absl::InvalidArgumentError(
        StrCat(where, ".host: one host name, address or socket directory"));
  // Passwords (Warden's admin, rotated ones) cross this connection: off the machine, only to a
  // server whose certificate names it.
  const bool local = c.host == "127.0.0.1" || c.host == "::1" || c.host == "localhost" ||
                     (!c.host.empty() && c.host[0] == '/');
  c.sslmode = n["sslmode"].as<std::string>(local ? "disable" : "verify-full");
  if (c.sslmode != "disable" && c.sslmode != "require" && c.sslmode != "verify-ca" &&
      c.sslmode != "verify-full")
    return absl::InvalidArgumentError(StrCat(where, ".sslmode: \"", c.sslmode,
                                             "\" is not one of disable, require, verify-ca, "
                                             "verify-full"));
  c.ca_file = n["ca_file"].as<std::string>("");
  if (!c.ca_file.empty() && c.sslmode.rfind("verify-", 0) != 0)
    return absl::InvalidArgumentError(
        StrCat(where, ".ca_file is for sslmode verify-ca or verify-full"));
  if (c.ca_file.empty()) c.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  return absl::OkStatus();
}

absl::Status ParseRole(const std::string& name, const YAML::Node& n,
                       const std::map<std::string, std::set<std::string>>& groups,
                       DbRolePolicy& r) {
  const std::string where = StrCat("databases.roles.", name);
  RETURN_IF_ERROR(PolicyOnlyKeys(n, where, {"connection", "requesters", "creation_statements",
                                      "revocation_statements", "renew_statements", "default_ttl",
                                      "max_ttl", "username_template"}));
  r.name = name;
  if (name.empty() || name.size() > 32 ||
      !std::all_of(name.begin(), name.end(),
                   [](char ch) { return IsLowerAlpha(ch) || IsDigit(ch) || ch == '_'; }))
    return absl::InvalidArgumentError(
        StrCat(where, ": a role's name is 1-32 characters of a-z, 0-9 and _"));
  r.connection = n["connection"].as<std::string>("");
  r.requester_groups = PolicyStrings(n["requesters"], where + ".requesters");
  for (const auto& g : r.requester_groups) {
    if (!groups.count(g))
      return absl::InvalidArgumentError(StrCat(where, ".requesters names unknown group \"", g, "\""));
  }
  r.creation_statements = PolicyStrings(n["creation_statements"], where + ".creation_statements");
  r.revocation_statements = PolicyStrings(n["revocation_statements"], where + ".revocation_statements");
  r.renew_statements = PolicyStrings(n["renew_statements"], where + ".renew_statements");
  if (r.creation_statements.empty() || r.revocation_statements.empty())
    return absl::InvalidArgumentError(
        StrCat(where, " needs creation_statements and revocation_statements"));
  for (const auto* list : {&r.creation_statements, &r.revocation_statements, &r.renew_statements}) {
    for (const std::string& s : *list) {
      if (absl::Status st = CheckStatementTemplate(s); !st.ok())
        return absl::InvalidArgumentError(StrCat(where, ": ", st.message()));
      if (list != &r.creation_statements && s.find("{{password}}") != std::string::npos)
        return absl::InvalidArgumentError(StrCat(
            where, ": {{password}} exists only in creation_statements (a renewal or revocation "
                   "has no password to give)"));
    }
  }
  if (n["default_ttl"]) {
    ASSIGN_OR_RETURN(r.default_ttl, ParseDuration(n["default_ttl"].as<std::string>()));
  }
  if (n["max_ttl"]) {
    ASSIGN_OR_RETURN(r.max_ttl, ParseDuration(n["max_ttl"].as<std::string>()));
  }
  if (r.default_ttl < 1 || r.default_ttl > r.max_ttl)
    return absl::InvalidArgumentError(StrCat(where, ": default_ttl must be between 1s and max_ttl"));
  r.username_template = n["username_template"].as<std::string>(r.username_template);
  return CheckUsernameTemplate(r.username_template, where);
}

}  // namespace

absl::Status CheckStatementTemplate(std::string_view s) {
  // A small lexer of PostgreSQL's quoting: a placeholder is allowed only in plain SQL, never in
  // a '...' or E'...' literal, a "..." identifier, a $tag$...$tag$ body or a comment.
  const auto ident = [](char c) {
    return IsLowerAlpha(static_cast<char>(tolower(static_cast<unsigned char>(c)))) ||
           IsDigit(c) || c == '_' || c == '$' || static_cast<unsigned char>(c) >= 0x80;
  };
  const auto refuse = [&](std::string_view why) {
    return absl::InvalidArgumentError(StrCat("statement \"", s, "\": ", why));
  };
  size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, 2, "{{") == 0) {
      const size_t end = s.find("}}", i);
      const std::string_view name = end == std::string_view::npos ? "" : s.substr(i + 2, end - i - 2);
      if (name != "name" && name != "name_literal" && name != "password" && name != "expiration")
        return refuse(
            "unknown placeholder; supported: {{name}}, {{name_literal}}, {{password}}, {{expiration}}");
      i = end + 2;
      continue;
    }
    const char c = s[i];
    const bool after_ident = i > 0 && ident(s[i - 1]);
    // The end of the quoted span that starts at i, or npos if it is not closed.
    size_t close = std::string_view::npos;
    if (c == '\'' || ((c == 'E' || c == 'e') && !after_ident && i + 1 < s.size() && s[i + 1] == '\'')) {
      const bool escapes = c != '\'';
      size_t j = escapes ? i + 2 : i + 1;
      for (; j < s.size(); j++) {
        if (escapes && s[j] == '\\') { j++; continue; }
        if (s[j] == '\'') {
          if (j + 1 < s.size() && s[j + 1] == '\'') { j++; continue; }  // '' inside
          break;
        }
      }
      close = j < s.size() ? j + 1 : std::string_view::npos;
    } else if (c == '"') {
      size_t j = i + 1;
      for (; j < s.size(); j++) {
        if (s[j] == '"') {
          if (j + 1 < s.size() && s[j + 1] == '"') { j++; continue; }
          break;
        }
      }
      close = j < s.size() ? j + 1 : std::string_view::npos;
    } else if (c == '$' && !after_ident) {
      size_t j = i + 1;
      while (j < s.size() && s[j] != '$' && (IsLowerAlpha(static_cast<char>(tolower(static_cast<unsigned char>(s[j])))) || s[j] == '_' || (j > i + 1 && IsDigit(s[j])))) j++;
      if (j >= s.size() || s[j] != '$') {  // $1 and the like: not a quote
        i++;
        continue;
      }
      const std::string_view tag = s.substr(i, j - i + 1);
      const size_t end = s.find(tag, j + 1);
      close = end == std::string_view::npos ? end : end + tag.size();
    } else if (s.compare(i, 2, "--") == 0) {
      const size_t nl = s.find('\n', i);
      close = nl == std::string_view::npos ? s.size() : nl + 1;
    } else if (s.compare(i, 2, "/*") == 0) {
      int depth = 0;
      size_t j = i;
      for (; j + 1 < s.size(); j++) {
        if (s.compare(j, 2, "/*") == 0) depth++, j++;
        else if (s.compare(j, 2, "*/") == 0 && --depth == 0) break;
        else if (s.compare(j, 2, "*/") == 0) j++;
      }
      close = depth == 0 ? j + 2 : std::string_view::npos;
    } else {
      i++;
      continue;
    }
    if (close == std::string_view::npos) return refuse("a quote or comment is not closed");
    const std::string_view span = s.substr(i, close - i);
    if (span.find("{{") != std::string_view::npos)
      return refuse("a placeholder is inside quotes or a comment; Warden quotes it itself, so write it bare");
    i = close;
  }
  return absl::OkStatus();
}

absl::Status ParseDatabases(const YAML::Node& n,
                            const std::map<std::string, std::set<std::string>>& groups,
                            DatabasePolicy& out) {
  try {
    RETURN_IF_ERROR(PolicyOnlyKeys(n, "databases", {"connections", "roles"}));
    if (n["connections"]) {
      if (!n["connections"].IsMap())
        return absl::InvalidArgumentError("databases.connections must be a mapping");
      for (const auto& e : n["connections"]) {
        DbConnectionPolicy c;
        RETURN_IF_ERROR(ParseConnection(e.first.as<std::string>(), e.second, c));
        out.connections[c.name] = std::move(c);
      }
    }
    if (n["roles"]) {
      if (!n["roles"].IsMap())
        return absl::InvalidArgumentError("databases.roles must be a mapping");
      for (const auto& e : n["roles"]) {
        DbRolePolicy r;
        RETURN_IF_ERROR(ParseRole(e.first.as<std::string>(), e.second, groups, r));
        out.roles[r.name] = std::move(r);
      }
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(StrCat("databases: ", e.what()));
  }
  for (const auto& [name, r] : out.roles) {
    auto c = out.connections.find(r.connection);
    if (c == out.connections.end())
      return absl::InvalidArgumentError(
          StrCat("databases.roles.", name, ".connection names unknown connection \"", r.connection, "\""));
    const auto& allowed = c->second.allowed_roles;
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
      return absl::InvalidArgumentError(StrCat("databases.roles.", name, ": connection \"",
                                               r.connection, "\" does not list it in allowed_roles"));
  }
  return absl::OkStatus();
}

}  // namespace warden
