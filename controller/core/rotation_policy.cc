#include "controller/core/rotation_policy.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "common/crypto.h"
#include "common/duration.h"
#include "common/sshkey.h"
#include "common/strings.h"
#include "controller/core/policy_yaml.h"
#include "controller/core/vault.h"

namespace warden {
namespace {

constexpr std::string_view kLower = "abcdefghijklmnopqrstuvwxyz";
constexpr std::string_view kUpper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
constexpr std::string_view kDigit = "0123456789";
constexpr std::string_view kSymbol = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

std::string_view ClassChars(std::string_view name) {
  if (name == "lower") return kLower;
  if (name == "upper") return kUpper;
  if (name == "digit") return kDigit;
  if (name == "symbol") return kSymbol;
  return {};
}

// `chars` without the excluded ones.
std::string Allowed(std::string_view chars, std::string_view exclude) {
  std::string out;
  for (char c : chars) {
    if (exclude.find(c) == std::string_view::npos) out += c;
  }
  return out;
}

// Uniform in [0, n): rejection sampling, no modulo bias.
size_t Uniform(size_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  for (;;) {
    const uint64_t r = RandomU64();
    if (r < limit) return static_cast<size_t>(r % n);
  }
}

// `s` with ASCII letters lowercased: host names, URLs and DNs compare without case.
std::string Lowercase(std::string s) {
  for (char& ch : s) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
  return s;
}

absl::StatusOr<int64_t> DurationField(const YAML::Node& n, const char* key, int64_t dflt,
                                      const std::string& where) {
  if (!n[key]) return dflt;
  absl::StatusOr<int64_t> d = ParseDuration(n[key].as<std::string>());
  if (!d.ok()) return absl::InvalidArgumentError(StrCat(where, ".", key, ": ", d.status().message()));
  return *d;
}

// kind: postgres
absl::Status ParsePostgresTarget(const std::string& where, const YAML::Node& n,
                                 const DatabasePolicy& databases, RotationTargetPolicy& t) {
  t.connection = n["connection"].as<std::string>("");
  auto conn = databases.connections.find(t.connection);
  if (conn == databases.connections.end())
    return absl::InvalidArgumentError(StrCat(
        where, ".connection: \"", t.connection, "\" is not in databases.connections"));
  t.user = n["user"].as<std::string>(conn->second.admin_user);
  if (t.user.empty() || t.user.size() > 63)
    return absl::InvalidArgumentError(StrCat(where, ".user: a role name of 1 to 63 bytes"));
  if (t.user == conn->second.admin_user && t.path != conn->second.admin_password_path)
    return absl::InvalidArgumentError(StrCat(
        where, ": the admin of connection ", t.connection, " is rotated at its admin_password path (",
        conn->second.admin_password_path, "), not at a second one"));
  for (const char* key : {"host", "port", "host_key", "change_command", "url", "dn", "ca_file",
                          "start_tls", "admin"}) {
    if (n[key]) return absl::InvalidArgumentError(StrCat(where, ".", key, " is not for kind postgres"));
  }
  return absl::OkStatus();
}

// kind: ssh
absl::Status ParseSshTarget(const std::string& where, const YAML::Node& n, RotationTargetPolicy& t) {
  for (const char* key : {"connection", "url", "dn", "ca_file", "start_tls", "admin"}) {
    if (n[key]) return absl::InvalidArgumentError(StrCat(where, ".", key, " is not for kind ssh"));
  }
  t.host = n["host"].as<std::string>("");
  t.port = n["port"].as<int>(t.port);
  t.user = n["user"].as<std::string>("");
  t.change_command = n["change_command"].as<std::string>("");
  if (t.host.empty() || t.user.empty() || t.change_command.empty() || !n["host_key"])
    return absl::InvalidArgumentError(
        StrCat(where, ": kind ssh needs host, user, host_key (the target's SSH host key, pinned) "
                      "and change_command"));
  if (t.port < 1 || t.port > 65535)
    return absl::InvalidArgumentError(StrCat(where, ".port must be between 1 and 65535"));
  absl::StatusOr<PublicKey> key = ParseAuthorizedKey(n["host_key"].as<std::string>(), nullptr);
  if (!key.ok())
    return absl::InvalidArgumentError(StrCat(where, ".host_key: ", key.status().message(),
                                             " (give the line of ssh-keyscan or the host's "
                                             "/etc/ssh/ssh_host_*_key.pub)"));
  t.host_key = key->blob;
  return absl::OkStatus();
}

// kind: ldap and kind: ad
absl::Status ParseLdapTarget(const std::string& where, const YAML::Node& n, RotationTargetPolicy& t) {
  for (const char* key : {"connection", "user", "host", "port", "host_key", "change_command"}) {
    if (n[key])
      return absl::InvalidArgumentError(StrCat(where, ".", key, " is not for kind ", t.kind));
  }
  if (n["admin"] && t.kind != "ad")
    return absl::InvalidArgumentError(StrCat(where, ".admin is for kind ad"));
  t.admin_path = n["admin"].as<std::string>("");
  t.url = n["url"].as<std::string>("");
  t.user = n["dn"].as<std::string>("");
  t.ca_file = n["ca_file"].as<std::string>("");
  t.start_tls = n["start_tls"].as<bool>(false);
  if (t.url.empty() || t.user.empty())
    return absl::InvalidArgumentError(StrCat(where, ": kind ", t.kind, " needs url and dn"));
  // libldap takes a list of URLs (space or comma separated): one, so that every try is over TLS.
  if (t.url.find_first_of(" ,\t") != std::string::npos)
    return absl::InvalidArgumentError(StrCat(where, ".url: one URL only"));
  const bool ldaps = t.url.rfind("ldaps://", 0) == 0, ldap = t.url.rfind("ldap://", 0) == 0;
  if (!ldaps && !(ldap && t.start_tls))
    return absl::InvalidArgumentError(StrCat(
        where, ".url: passwords go over TLS only: ldaps://..., or ldap://... with start_tls: true"));
  if (ldaps && t.start_tls)
    return absl::InvalidArgumentError(StrCat(where, ": start_tls is for ldap:// URLs"));
  return absl::OkStatus();
}

// kind: linux
absl::Status ParseLinuxTarget(const std::string& where, const YAML::Node& n, RotationTargetPolicy& t) {
  for (const char* key : {"connection", "port", "host_key", "change_command", "url", "dn",
                          "ca_file", "start_tls", "admin"}) {
    if (n[key]) return absl::InvalidArgumentError(StrCat(where, ".", key, " is not for kind linux"));
  }
  t.host = n["host"].as<std::string>("");
  t.user = n["user"].as<std::string>("");
  t.host = Lowercase(t.host);
  if (t.host.empty() || t.user.empty())
    return absl::InvalidArgumentError(
        StrCat(where, ": kind linux needs host (the name the host enrolled as) and user"));
  // What useradd accepts (and no ':' or newline, which would break /etc/shadow).
  const bool valid_user =
      t.user.size() <= 32 && (islower(static_cast<unsigned char>(t.user[0])) || t.user[0] == '_') &&
      std::all_of(t.user.begin(), t.user.end(), [](char ch) {
        return islower(static_cast<unsigned char>(ch)) || isdigit(static_cast<unsigned char>(ch)) ||
               ch == '_' || ch == '-' || ch == '.';
      });
  if (!valid_user)
    return absl::InvalidArgumentError(StrCat(
        where, ".user: a local account name: up to 32 lowercase letters, digits, '_', '-' and '.', "
               "starting with a letter or '_'"));
  return absl::OkStatus();
}

absl::Status ParseTarget(const std::string& path, const YAML::Node& n,
                         const DatabasePolicy& databases, RotationTargetPolicy& t) {
  const std::string where = StrCat("rotation.targets.\"", path, "\"");
  RETURN_IF_ERROR(PolicyOnlyKeys(n, where, {"kind", "connection", "user", "host", "port",
                                            "host_key", "change_command", "url", "dn", "ca_file",
                                            "start_tls", "admin", "period", "jitter", "reconcile_every",
                                            "password"}));
  t.path = path;
  if (absl::Status st = CheckSecretPath(path); !st.ok())
    return absl::InvalidArgumentError(StrCat(where, ": ", st.message()));
  t.kind = n["kind"].as<std::string>("");
  if (t.kind == "postgres") {
    RETURN_IF_ERROR(ParsePostgresTarget(where, n, databases, t));
  } else if (t.kind == "ssh") {
    RETURN_IF_ERROR(ParseSshTarget(where, n, t));
  } else if (t.kind == "ldap" || t.kind == "ad") {
    RETURN_IF_ERROR(ParseLdapTarget(where, n, t));
  } else if (t.kind == "linux") {
    RETURN_IF_ERROR(ParseLinuxTarget(where, n, t));
  } else {
    return absl::InvalidArgumentError(StrCat(
        where, ".kind: \"", t.kind, "\" is not a kind of target; supported: postgres, ssh, ldap, ad, linux"));
  }
  ASSIGN_OR_RETURN(t.period, DurationField(n, "period", 0, where));
  ASSIGN_OR_RETURN(t.jitter, DurationField(n, "jitter", 0, where));
  ASSIGN_OR_RETURN(t.reconcile_every, DurationField(n, "reconcile_every", t.reconcile_every, where));
  if (t.jitter < 0 || (t.period > 0 && t.jitter >= t.period) || (t.period == 0 && t.jitter > 0))
    return absl::InvalidArgumentError(StrCat(where, ": jitter must be shorter than period"));
  if (t.reconcile_every < 60)
    return absl::InvalidArgumentError(StrCat(where, ".reconcile_every: at least 1m"));
  if (t.period > 0 && t.period < 60)
    return absl::InvalidArgumentError(StrCat(where, ".period: at least 1m (or 0: none)"));
  if (const YAML::Node& pw = n["password"]) {
    RETURN_IF_ERROR(PolicyOnlyKeys(pw, where + ".password", {"length", "classes", "exclude"}));
    t.password.length = pw["length"].as<int>(t.password.length);
    if (pw["classes"]) t.password.classes = PolicyStrings(pw["classes"], where + ".password.classes");
    t.password.exclude = pw["exclude"].as<std::string>("");
  }
  return CheckPasswordPolicy(t.password, where + ".password");
}

}  // namespace

const RotationTargetPolicy* RotationPolicy::TargetFor(std::string_view path) const {
  auto it = targets.find(path);
  return it == targets.end() ? nullptr : &it->second;
}

absl::Status CheckPasswordPolicy(const PasswordPolicy& p, std::string_view where) {
  if (p.length < 12 || p.length > 128)
    return absl::InvalidArgumentError(StrCat(where, ".length must be between 12 and 128"));
  if (p.classes.empty())
    return absl::InvalidArgumentError(StrCat(where, ".classes: name at least one of lower, upper, digit, symbol"));
  for (const std::string& c : p.classes) {
    if (ClassChars(c).empty())
      return absl::InvalidArgumentError(
          StrCat(where, ".classes: unknown class \"", c, "\"; supported: lower, upper, digit, symbol"));
    if (Allowed(ClassChars(c), p.exclude).empty())
      return absl::InvalidArgumentError(
          StrCat(where, ".exclude removes every character of class ", c));
  }
  if (static_cast<size_t>(p.length) < p.classes.size())
    return absl::InvalidArgumentError(StrCat(where, ".length is shorter than the number of classes"));
  return absl::OkStatus();
}

SecretBytes GeneratePassword(const PasswordPolicy& p) {
  std::vector<std::string> classes;
  std::string pool;
  for (const std::string& c : p.classes) {
    classes.push_back(Allowed(ClassChars(c), p.exclude));
    pool += classes.back();
  }
  SecretBytes out(static_cast<size_t>(p.length));
  size_t i = 0;
  for (const std::string& c : classes) out.data()[i++] = static_cast<uint8_t>(c[Uniform(c.size())]);
  for (; i < out.size(); i++) out.data()[i] = static_cast<uint8_t>(pool[Uniform(pool.size())]);
  // Fisher-Yates: the guaranteed characters end up anywhere.
  for (size_t k = out.size() - 1; k > 0; k--) std::swap(out.data()[k], out.data()[Uniform(k + 1)]);
  return out;
}

absl::Status ParseRotation(const YAML::Node& n, const DatabasePolicy& databases,
                           RotationPolicy& out) {
  if (n) {
    RETURN_IF_ERROR(PolicyOnlyKeys(n, "rotation", {"targets"}));
    if (const YAML::Node& targets = n["targets"]) {
      if (!targets.IsMap()) return absl::InvalidArgumentError("rotation.targets must be a mapping");
      for (const auto& kv : targets) {
        RotationTargetPolicy t;
        RETURN_IF_ERROR(ParseTarget(kv.first.as<std::string>(), kv.second, databases, t));
        out.targets[t.path] = std::move(t);
      }
    }
  }
  for (const auto& [name, c] : databases.connections) {
    if (out.targets.count(c.admin_password_path)) continue;
    RotationTargetPolicy t;
    t.path = c.admin_password_path;
    t.kind = "postgres";
    t.connection = name;
    t.user = c.admin_user;
    t.listed = false;
    out.targets[t.path] = std::move(t);
  }
  // kind ad: the account that resets another is a target of its own on the same server, and
  // changes its own password (no chain of admins to follow).
  for (auto& [path, t] : out.targets) {
    if (t.kind != "ad" || t.admin_path.empty()) continue;
    const std::string where = StrCat("rotation.targets.\"", path, "\".admin");
    auto admin = out.targets.find(t.admin_path);
    if (admin == out.targets.end() || admin->second.kind != "ad")
      return absl::InvalidArgumentError(StrCat(where, ": \"", t.admin_path,
                                               "\" is not a rotation target of kind ad"));
    if (admin->first == path || !admin->second.admin_path.empty())
      return absl::InvalidArgumentError(StrCat(
          where, ": \"", t.admin_path, "\" must change its own password (no admin of its own)"));
    if (Lowercase(admin->second.url) != Lowercase(t.url))
      return absl::InvalidArgumentError(StrCat(where, ": \"", t.admin_path, "\" is at ",
                                               admin->second.url, ", not at ", t.url));
    // The admin's password goes out under the admin's own trust, never a wider one.
    if (admin->second.ca_file != t.ca_file || admin->second.start_tls != t.start_tls)
      return absl::InvalidArgumentError(StrCat(where, ": \"", t.admin_path,
                                               "\" trusts other CAs (ca_file, start_tls) than this "
                                               "target; give both the same"));
    t.admin_dn = admin->second.user;
  }
  // One account, one owner: two paths rotating the same password would each break the other.
  std::map<std::string, std::string> owner;
  for (const auto& [path, t] : out.targets) {
    // Host names and DNs compared without case; localhost is the loopback address.
    const auto host = [](const std::string& h) {
      std::string l = Lowercase(h);
      return l == "localhost" ? std::string("127.0.0.1") : l;
    };
    std::string account;
    if (t.kind == "postgres") {
      const DbConnectionPolicy& c = databases.connections.at(t.connection);
      account = StrCat("PostgreSQL role ", t.user, " at ", host(c.host), ":", c.port);
    } else if (t.kind == "ssh") {
      account = StrCat("SSH account ", t.user, " at ", host(t.host), ":", t.port);
    } else if (t.kind == "linux") {
      account = StrCat("local account ", t.user, " of host ", t.host);
    } else {
      std::string url = host(t.url), dn = host(t.user);
      dn.erase(std::remove(dn.begin(), dn.end(), ' '), dn.end());
      account = StrCat("LDAP account ", dn, " at ", url);
    }
    auto [it, added] = owner.emplace(account, path);
    if (!added)
      return absl::InvalidArgumentError(StrCat("rotation.targets: \"", it->second, "\" and \"", path,
                                               "\" are both the ", account,
                                               "; one account is rotated at one path"));
  }
  return absl::OkStatus();
}

}  // namespace warden
