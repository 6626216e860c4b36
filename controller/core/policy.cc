#include "controller/core/policy.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/duration.h"
#include "common/strings.h"

namespace warden {
namespace {

const std::set<std::string>& KnownExtensions() {
  static const std::set<std::string> k = {"no-touch-required", "permit-X11-forwarding",
                                          "permit-agent-forwarding", "permit-port-forwarding",
                                          "permit-pty", "permit-user-rc"};
  return k;
}

bool ValidLoginChar(char c) {
  return IsLowerAlpha(c) ||
         IsDigit(c) || c == '-' || c == '_';
}

std::vector<std::string> StringList(const YAML::Node& n, const std::string& what) {
  std::vector<std::string> out;
  if (!n) return out;
  if (!n.IsSequence()) throw std::runtime_error(what + " must be a list");
  for (const auto& v : n) out.push_back(v.as<std::string>());
  return out;
}

absl::Status ParseVault(const YAML::Node& v, Policy& p) {
  const auto known_groups = [&](const std::vector<std::string>& gs, const std::string& where) {
    for (const auto& g : gs) {
      if (!p.groups.count(g))
        return absl::InvalidArgumentError(StrCat(where, " names unknown group \"", g, "\""));
    }
    return absl::OkStatus();
  };
  for (const auto& kv : v) {
    const std::string key = kv.first.as<std::string>();
    if (key != "custodians" && key != "max_wrap_ttl" && key != "paths")
      return absl::InvalidArgumentError(
          StrCat("unknown vault key \"", key, "\"; supported: custodians, max_wrap_ttl, paths"));
  }
  if (v["custodians"]) p.vault_custodian_groups = StringList(v["custodians"], "vault.custodians");
  RETURN_IF_ERROR(known_groups(p.vault_custodian_groups, "vault.custodians"));
  if (v["max_wrap_ttl"]) {
    ASSIGN_OR_RETURN(p.vault_max_wrap_ttl, ParseDuration(v["max_wrap_ttl"].as<std::string>()));
  }
  if (!v["paths"]) return absl::OkStatus();
  if (!v["paths"].IsMap()) return absl::InvalidArgumentError("vault.paths must be a mapping");
  for (const auto& e : v["paths"]) {
    VaultPathPolicy vp;
    vp.pattern = e.first.as<std::string>();
    const std::string where = StrCat("vault path \"", vp.pattern, "\"");
    const size_t star = vp.pattern.find('*');
    if (vp.pattern.empty() || vp.pattern.size() > 256 || vp.pattern[0] == '/' ||
        (star != std::string::npos && star != vp.pattern.size() - 1))
      return absl::InvalidArgumentError(
          StrCat(where, ": a path, or a prefix ending in a single trailing *"));
    for (const auto& kv : e.second) {
      const std::string key = kv.first.as<std::string>();
      const bool cap = std::any_of(std::begin(kVaultCapabilities), std::end(kVaultCapabilities),
                                   [&](const char* c) { return key == c; });
      if (cap) {
        vp.capabilities[key] = StringList(kv.second, StrCat(where, ".", key));
        RETURN_IF_ERROR(known_groups(vp.capabilities[key], StrCat(where, ".", key)));
      } else if (key == "control_group") {
        vp.approvals = kv.second["approvals"].as<int>(0);
        vp.approver_groups = StringList(kv.second["groups"], StrCat(where, ".control_group.groups"));
        if (vp.approvals < 1 || vp.approver_groups.empty())
          return absl::InvalidArgumentError(
              StrCat(where, ": control_group needs approvals >= 1 and at least one group"));
        RETURN_IF_ERROR(known_groups(vp.approver_groups, StrCat(where, ".control_group.groups")));
        if (kv.second["ttl"]) {
          ASSIGN_OR_RETURN(vp.wrap_ttl, ParseDuration(kv.second["ttl"].as<std::string>()));
        }
      } else if (key == "checkout") {
        vp.checkout = true;
        if (kv.second["lease"]) {
          ASSIGN_OR_RETURN(vp.checkout_lease, ParseDuration(kv.second["lease"].as<std::string>()));
        }
        vp.rotate_after_use = kv.second["rotate_after_use"].as<bool>(false);
      } else {
        return absl::InvalidArgumentError(
            StrCat(where, ": unknown key \"", key,
                   "\"; supported: read, write, list, delete, destroy, rotate, control_group, checkout"));
      }
    }
    p.vault_paths.push_back(std::move(vp));
  }
  return absl::OkStatus();
}

absl::StatusOr<Policy> ParsePolicyNode(const YAML::Node& root) {
  Policy p;
  if (!root.IsMap()) return absl::InvalidArgumentError("policy must be a YAML mapping");
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    if (key != "groups" && key != "roles" && key != "request_ttl" &&
        key != "operator_cert_ttl" && key != "admins" && key != "account_ids" &&
        key != "recording_viewers" && key != "vault" && key != "databases" &&
        key != "rotation" && key != "siem" && key != "detections") {
      return absl::InvalidArgumentError(StrCat("unknown policy key \"", key, "\""));
    }
  }
  if (root["groups"]) {
    for (const auto& g : root["groups"]) {
      auto members = StringList(g.second, "group " + g.first.as<std::string>());
      p.groups[g.first.as<std::string>()] = {members.begin(), members.end()};
    }
  }
  if (root["admins"]) p.admin_groups = StringList(root["admins"], "admins");
  p.recording_viewer_groups = root["recording_viewers"]
                                  ? StringList(root["recording_viewers"], "recording_viewers")
                                  : p.admin_groups;
  for (const auto& g : p.recording_viewer_groups) {
    if (!root["groups"] || !root["groups"][g]) {
      return absl::InvalidArgumentError(StrCat("recording_viewers names unknown group \"", g, "\""));
    }
  }
  if (root["request_ttl"]) {
    ASSIGN_OR_RETURN(p.request_ttl, ParseDuration(root["request_ttl"].as<std::string>()));
  }
  if (root["operator_cert_ttl"]) {
    ASSIGN_OR_RETURN(p.operator_cert_ttl,
                     ParseDuration(root["operator_cert_ttl"].as<std::string>()));
  }
  if (const YAML::Node& ids = root["account_ids"]) {
    p.account_id_first = ids["first"].as<int64_t>(p.account_id_first);
    p.account_id_count = ids["count"].as<int64_t>(p.account_id_count);
    if (p.account_id_first < 65536 || p.account_id_count < 1 ||
        p.account_id_first + p.account_id_count > (int64_t{1} << 31)) {
      return absl::InvalidArgumentError(
          "account_ids must lie between 65536 and 2^31 with a count of at least 1");
    }
  }
  for (const auto& g : p.admin_groups) {
    if (!p.groups.count(g)) {
      return absl::InvalidArgumentError(StrCat("admins names unknown group \"", g, "\""));
    }
  }
  if (const YAML::Node& v = root["vault"]) {
    RETURN_IF_ERROR(ParseVault(v, p));
  }
  if (const YAML::Node& d = root["databases"]) {
    RETURN_IF_ERROR(ParseDatabases(d, p.groups, p.databases));
  }
  RETURN_IF_ERROR(ParseRotation(root["rotation"], p.databases, p.rotation));
  if (const YAML::Node& n = root["siem"]) RETURN_IF_ERROR(ParseSiem(n, p.siem));
  if (const YAML::Node& n = root["detections"]) RETURN_IF_ERROR(ParseDetections(n, p.detections));
  if (!root["roles"] || !root["roles"].IsMap()) {
    return absl::InvalidArgumentError("policy has no roles");
  }
  for (const auto& r : root["roles"]) {
    Role role;
    role.name = r.first.as<std::string>();
    const YAML::Node& n = r.second;
    auto fail = [&](std::string_view msg) {
      return absl::InvalidArgumentError(StrCat("role ", role.name, ": ", msg));
    };
    for (const auto& kv : n) {
      static const std::set<std::string> kKeys = {"tier", "login", "max_ttl", "cert_ttl",
                                                  "requesters", "approvals", "extensions",
                                                  "critical_options", "hosts", "account",
                                                  "recording", "require_moderator", "broker"};
      if (!kKeys.count(kv.first.as<std::string>())) {
        return fail(StrCat("unknown key \"", kv.first.as<std::string>(), "\""));
      }
    }
    if (!n["tier"]) return fail("tier is required");
    role.tier = n["tier"].as<int>();
    if (role.tier < 0 || role.tier > kMaxTier) return fail(StrCat("tier must be 0..", kMaxTier));
    if (!n["login"]) return fail("login template is required");
    role.login_template = n["login"].as<std::string>();
    if (n["max_ttl"]) {
      ASSIGN_OR_RETURN(role.max_ttl, ParseDuration(n["max_ttl"].as<std::string>()));
    }
    role.cert_ttl = role.max_ttl;
    if (n["cert_ttl"]) {
      ASSIGN_OR_RETURN(role.cert_ttl, ParseDuration(n["cert_ttl"].as<std::string>()));
    }
    role.requester_groups = StringList(n["requesters"], "requesters");
    if (!n["approvals"]) return fail("approvals are required: {count: N, groups: [...]}");
    role.approvals_required = n["approvals"]["count"].as<int>(0);
    role.approver_groups = StringList(n["approvals"]["groups"], "approvals.groups");
    if (role.approvals_required < 1) return fail("approvals.count must be at least 1");
    if (role.approver_groups.empty()) return fail("approvals.groups must name at least one group");
    for (const auto& g : role.approver_groups) {
      if (!p.groups.count(g)) return fail(StrCat("approver group \"", g, "\" is not defined"));
    }
    for (const auto& g : role.requester_groups) {
      if (!p.groups.count(g)) return fail(StrCat("requester group \"", g, "\" is not defined"));
    }
    if (n["extensions"]) {
      for (const auto& e : StringList(n["extensions"]["allowed"], "extensions.allowed")) {
        if (!KnownExtensions().count(e)) return fail(StrCat("unknown extension \"", e, "\""));
        role.allowed_extensions.insert(e);
      }
      for (const auto& e : StringList(n["extensions"]["default"], "extensions.default")) {
        if (!role.allowed_extensions.count(e)) {
          return fail(StrCat("default extension \"", e, "\" is not in allowed"));
        }
        role.default_extensions.insert(e);
      }
    }
    if (n["critical_options"]) {
      for (const auto& kv : n["critical_options"]) {
        const std::string name = kv.first.as<std::string>();
        const std::string value = kv.second.as<std::string>();
        if (name == "source-address") {
          for (auto part : StrSplit(value, ',', true)) {
            std::string cidr(StripSpaces(part));
            if (cidr.empty()) continue;
            auto c = ParseCidr(cidr);
            if (!c.ok()) return fail(std::string(c.status().message()));
            role.source_addresses.push_back(cidr);
          }
        } else if (name == "force-command") {
          role.force_command = value;
        } else {
          return fail(StrCat("unknown critical option \"", name,
                                   "\"; supported: source-address, force-command"));
        }
      }
    }
    if (n["hosts"]) {
      if (!n["hosts"].IsMap()) return fail("hosts must be a mapping of labels, e.g. {env: prod}");
      for (const auto& kv : n["hosts"]) {
        role.host_labels[kv.first.as<std::string>()] = kv.second.as<std::string>();
      }
    }
    if (const YAML::Node& a = n["account"]) {
      for (const auto& kv : a) {
        const std::string k = kv.first.as<std::string>();
        if (k != "groups" && k != "sudo" && k != "shell") {
          return fail(StrCat("unknown account key \"", k, "\"; supported: groups, sudo, shell"));
        }
      }
      role.account_groups = StringList(a["groups"], "account.groups");
      for (const auto& g : role.account_groups) {
        if (g.empty() || g.size() > 32 || !std::all_of(g.begin(), g.end(), ValidLoginChar)) {
          return fail(StrCat("account group \"", g,
                             "\" must be 1-32 lowercase letters, digits, '-' or '_'"));
        }
      }
      role.sudo_rule = a["sudo"].as<std::string>("");
      if (role.sudo_rule.find_first_of("\n\r\\") != std::string::npos) {
        return fail("account.sudo must be one line without backslashes");
      }
      role.shell = a["shell"].as<std::string>(role.shell);
      if (role.shell.empty() || role.shell[0] != '/' ||
          role.shell.find_first_of(":\n") != std::string::npos) {
        return fail("account.shell must be an absolute path");
      }
    }
    bool hold_wait = false;
    if (const YAML::Node& rec = n["recording"]) {
      for (const auto& kv : rec) {
        const std::string key = kv.first.as<std::string>();
        if (key != "input" && key != "mode" && key != "max_redacted_lines" &&
            key != "on_redaction_limit" && key != "hold_wait")
          return fail(StrCat("unknown recording key \"", key,
                             "\"; supported: input, mode, max_redacted_lines, "
                             "on_redaction_limit, hold_wait"));
      }
      role.recording_mode = rec["mode"].as<std::string>(role.recording_mode);
      if (role.recording_mode != "best_effort" && role.recording_mode != "strict")
        return fail("recording.mode must be strict or best_effort");
      role.recording_input = rec["input"].as<std::string>(role.recording_input);
      if (role.recording_input == "all") role.recording_input = "full";  // the older spelling
      if (role.recording_input != "redact" && role.recording_input != "full" &&
          role.recording_input != "off")
        return fail("recording.input must be redact, full or off");
      if (const YAML::Node& max = rec["max_redacted_lines"]) {
        const int64_t n = max.as<int64_t>(-1);
        if (n < 0 || n > 10000)
          return fail("recording.max_redacted_lines must be a number from 0 to 10000");
        role.max_redacted_lines = static_cast<uint32_t>(n);
      }
      // Existing policies keep their behaviour: strict sessions are ended, others flagged.
      role.on_redaction_limit = role.recording_mode == "strict" ? "end" : "alert";
      if (const YAML::Node& action = rec["on_redaction_limit"]) {
        const std::string word = action.IsScalar() ? action.Scalar() : "";
        if (word != "alert" && word != "hold" && word != "end")
          return fail(StrCat("recording.on_redaction_limit must be alert, hold or end, not \"",
                             word, "\""));
        role.on_redaction_limit = word;
      }
      if (const YAML::Node& wait = rec["hold_wait"]) {
        if (role.on_redaction_limit != "hold")
          return fail("recording.hold_wait applies only to recording.on_redaction_limit: hold");
        absl::StatusOr<int64_t> seconds = ParseDuration(wait.as<std::string>());
        if (!seconds.ok()) return fail(StrCat("recording.hold_wait: ", seconds.status().message()));
        if (*seconds < 1) return fail("recording.hold_wait must be positive");
        role.moderator_wait = *seconds;
        hold_wait = true;
      }
    }
    if (const YAML::Node& m = n["require_moderator"]) {
      for (const auto& kv : m) {
        const std::string key = kv.first.as<std::string>();
        if (key != "count" && key != "groups" && key != "on_leave" && key != "wait")
          return fail(StrCat("unknown require_moderator key \"", key,
                             "\"; supported: count, groups, on_leave, wait"));
      }
      role.moderators_required = m["count"].as<int>(0);
      if (role.moderators_required < 1 || role.moderators_required > 16)
        return fail("require_moderator.count must be 1..16");
      role.moderator_groups = StringList(m["groups"], "require_moderator.groups");
      if (role.moderator_groups.empty())
        return fail("require_moderator.groups must name at least one group");
      for (const auto& g : role.moderator_groups) {
        if (!p.groups.count(g)) return fail(StrCat("moderator group \"", g, "\" is not defined"));
      }
      role.moderator_on_leave = m["on_leave"].as<std::string>(role.moderator_on_leave);
      if (role.moderator_on_leave != "terminate" && role.moderator_on_leave != "pause")
        return fail("require_moderator.on_leave must be terminate or pause");
      if (hold_wait)
        return fail(
            "recording.hold_wait is for roles without require_moderator; this role's "
            "sessions wait require_moderator.wait");
      if (m["wait"]) {
        ASSIGN_OR_RETURN(role.moderator_wait, ParseDuration(m["wait"].as<std::string>()));
        if (role.moderator_wait < 1) return fail("require_moderator.wait must be positive");
      }
    }
    if (const YAML::Node& b = n["broker"]) {
      role.broker_protocol = b["protocol"].as<std::string>("ssh");
      if (role.broker_protocol != "ssh" && role.broker_protocol != "rdp")
        return fail(StrCat("broker.protocol \"", role.broker_protocol, "\": supported: ssh "
                           "(warden-sshgw), rdp (warden-rdpgw)"));
      const bool rdp = role.broker_protocol == "rdp";
      for (const auto& kv : b) {
        const std::string key = kv.first.as<std::string>();
        const bool known = key == "protocol" || key == "target" || key == "credential" ||
                           (!rdp && key == "allow") ||
                           (rdp && (key == "address" || key == "login" || key == "certificate" ||
                                    key == "security"));
        if (!known)
          return fail(StrCat("unknown broker key \"", key, "\"; supported: protocol, target, "
                             "credential, ", rdp ? "address, login, certificate, security"
                                                 : "allow"));
      }
      role.broker_target = b["target"].as<std::string>("");
      if (role.broker_target.empty() || role.broker_target.size() > 64 ||
          role.broker_target.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-_") !=
              std::string::npos)
        return fail("broker.target must be 1-64 lowercase letters, digits, '.', '-' and '_'");
      role.broker_credential = b["credential"].as<std::string>("");
      if (rdp) {
        if (!p.VaultPathFor(role.broker_credential))
          return fail(StrCat("broker.credential \"", role.broker_credential, "\" must be a vault "
                             "path of the policy (its value is the target account's password)"));
        const std::string address = b["address"].as<std::string>("");
        const size_t colon = address.rfind(':');
        role.rdp_host = colon == std::string::npos ? address : address.substr(0, colon);
        role.rdp_port = 3389;
        if (colon != std::string::npos) {
          const std::string port = address.substr(colon + 1);
          role.rdp_port = port.empty() || port.size() > 5 ||
                                  port.find_first_not_of("0123456789") != std::string::npos
                              ? 0
                              : std::stoi(port);
        }
        if (role.rdp_host.empty() || role.rdp_port < 1 || role.rdp_port > 65535)
          return fail(StrCat("broker.address \"", address, "\" must be HOST or HOST:PORT"));
        role.rdp_login = b["login"].as<std::string>("");
        if (role.rdp_login.empty() || role.rdp_login.size() > 256)
          return fail("broker.login (the target account, DOMAIN\\user or user) is required");
        role.rdp_certificate = NormalizeSha256Fingerprint(b["certificate"].as<std::string>(""));
        if (role.rdp_certificate.empty())
          return fail("broker.certificate must be the SHA-256 fingerprint of the target's TLS "
                      "certificate (64 hex digits, colons allowed): warden-rdpgw logs the one it "
                      "was shown when it refuses a connection");
        role.rdp_security = b["security"].as<std::string>("nla");
        if (role.rdp_security != "nla" && role.rdp_security != "tls")
          return fail(StrCat("broker.security \"", role.rdp_security, "\": nla (the default) "
                             "or tls (for a target that cannot do NLA)"));
      } else {
        const RotationTargetPolicy* t = p.rotation.TargetFor(role.broker_credential);
        if (!t || t->kind != "ssh")
          return fail(StrCat("broker.credential \"", role.broker_credential,
                             "\" must be a rotation target of kind ssh (its address, login and "
                             "pinned host key are the second leg's)"));
      }
      if (b["allow"]) {
        role.broker_allow.clear();
        for (const auto& a : StringList(b["allow"], "broker.allow")) {
          if (a != "shell" && a != "exec" && a != "sftp")
            return fail(StrCat("broker.allow: unknown channel \"", a,
                               "\"; supported: shell, exec, sftp (port and agent forwarding are "
                               "always refused)"));
          role.broker_allow.insert(a);
        }
      }
      // Nobody can watch an RDP session live yet: a four-eyes role would run unwatched.
      if (rdp && role.moderators_required > 0)
        return fail("require_moderator is not supported for RDP broker roles (live viewing of RDP "
                    "sessions is not built yet); sessions are recorded and can be terminated");
      if (!role.host_labels.empty() || !role.account_groups.empty() || !role.sudo_rule.empty())
        return fail("a broker role puts no account on hosts: hosts and account do not apply");
    }
    auto login = RenderLogin(role, "probe");
    if (!login.ok()) return fail(std::string(login.status().message()));
    p.roles.emplace(role.name, std::move(role));
  }
  return p;
}

}  // namespace

bool Role::SelectsHost(const std::map<std::string, std::string>& labels) const {
  for (const auto& [k, v] : host_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

bool VaultPathPolicy::Matches(std::string_view path) const {
  if (!pattern.empty() && pattern.back() == '*')
    return path.substr(0, pattern.size() - 1) == std::string_view(pattern).substr(0, pattern.size() - 1);
  return path == pattern;
}

const VaultPathPolicy* Policy::VaultPathFor(std::string_view path) const {
  const VaultPathPolicy* best = nullptr;
  for (const auto& vp : vault_paths) {
    // An exact path beats any prefix; a longer prefix beats a shorter one.
    const auto rank = [](const VaultPathPolicy& x) {
      return x.pattern.back() == '*' ? x.pattern.size() : x.pattern.size() + 100000;
    };
    if (vp.Matches(path) && (!best || rank(vp) > rank(*best))) best = &vp;
  }
  return best;
}

std::vector<std::string> Policy::GroupsOf(std::string_view user) const {
  std::vector<std::string> out;
  for (const auto& [g, members] : groups) {
    if (members.count(std::string(user))) out.push_back(g);
  }
  return out;
}

absl::Status Policy::RequireAuditReader(std::string_view user, bool host, std::string_view what) const {
  if (!host && (IsAdmin(user) || InAnyGroup(user, recording_viewer_groups))) return absl::OkStatus();
  std::vector<std::string> groups = admin_groups;
  for (const std::string& g : recording_viewer_groups)
    if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
  return absl::PermissionDeniedError(
      StrCat(what, ": for admins and recording viewers only (groups ", StrJoin(groups, ", "), ")"));
}

bool Policy::InAnyGroup(std::string_view user, const std::vector<std::string>& gs) const {
  for (const auto& g : gs) {
    auto it = groups.find(g);
    if (it != groups.end() && it->second.count(std::string(user))) return true;
  }
  return false;
}

absl::StatusOr<const Role*> Policy::FindRole(std::string_view name) const {
  auto it = roles.find(std::string(name));
  if (it == roles.end()) {
    std::vector<std::string> names;
    for (const auto& [n, r] : roles) names.push_back(n);
    return absl::NotFoundError(StrCat("unknown role \"", name, "\"; roles: ",
                                            StrJoin(names, ", ")));
  }
  return &it->second;
}

absl::StatusOr<Policy> ParsePolicy(std::string_view yaml_text) {
  try {
    return ParsePolicyNode(YAML::Load(std::string(yaml_text)));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(StrCat("policy: ", e.what()));
  }
}

absl::StatusOr<Policy> LoadPolicyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(StrCat("cannot read policy file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto p = ParsePolicy(ss.str());
  if (!p.ok()) {
    return absl::InvalidArgumentError(StrCat(path, ": ", p.status().message()));
  }
  return p;
}

absl::StatusOr<std::string> RenderLogin(const Role& role, std::string_view user) {
  std::string out = role.login_template;
  const std::string placeholder = "{{user}}";
  for (size_t pos; (pos = out.find(placeholder)) != std::string::npos;) {
    out.replace(pos, placeholder.size(), user);
  }
  if (out.find("{{") != std::string::npos) {
    return absl::InvalidArgumentError(
        StrCat("login template \"", role.login_template, "\" has an unknown placeholder; "
                     "only {{user}} is supported"));
  }
  // Leave room for the "-xxxx" grant suffix within the 32-character Linux limit.
  if (out.empty() || out.size() > 26 || !IsLowerAlpha(out[0]) ||
      !std::all_of(out.begin(), out.end(), ValidLoginChar)) {
    return absl::InvalidArgumentError(StrCat(
        "login \"", out, "\" is not a valid account name (lowercase letters, digits, - and _, "
        "starting with a letter, at most 26 characters)"));
  }
  return out;
}

absl::StatusOr<Cidr> ParseCidr(std::string_view text) {
  Cidr c;
  std::string addr(text);
  int max_prefix;
  size_t slash = addr.find('/');
  std::string prefix_text;
  if (slash != std::string::npos) {
    prefix_text = addr.substr(slash + 1);
    addr.resize(slash);
  }
  if (inet_pton(AF_INET, addr.c_str(), c.addr) == 1) {
    max_prefix = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.addr) == 1) {
    c.v6 = true;
    max_prefix = 128;
  } else {
    return absl::InvalidArgumentError(StrCat("\"", text, "\" is not an address or CIDR block"));
  }
  c.prefix = max_prefix;
  if (!prefix_text.empty() &&
      (!ParseInt(prefix_text, &c.prefix) || c.prefix < 0 || c.prefix > max_prefix)) {
    return absl::InvalidArgumentError(StrCat("\"", text, "\" has a bad prefix length"));
  }
  return c;
}

bool CidrContains(const Cidr& outer, const Cidr& inner) {
  if (outer.v6 != inner.v6 || inner.prefix < outer.prefix) return false;
  for (int bit = 0; bit < outer.prefix; bit++) {
    const int byte = bit / 8, mask = 0x80 >> (bit % 8);
    if ((outer.addr[byte] & mask) != (inner.addr[byte] & mask)) return false;
  }
  return true;
}

}  // namespace warden
