#include "controller/core/host_registry.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "common/strings.h"
#include "common/totp.h"
#include "controller/core/access.h"
#include "controller/keys/x509_issuer.h"

namespace warden {
namespace {

constexpr std::string_view kTokenPrefix = "wjt_";
constexpr size_t kMaxLabels = 32;

bool LabelText(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!(IsLowerAlpha(c) || IsDigit(c) || c == '.' || c == '_' || c == '-')) return false;
  }
  return true;
}

bool ValidHostname(std::string_view h) {
  if (h.empty() || h.size() > kMaxHostnameBytes || h.front() == '-' || h.front() == '.') {
    return false;
  }
  for (char c : h) {
    if (!(IsLowerAlpha(c) || IsDigit(c) || c == '-' || c == '.')) return false;
  }
  return true;
}

// A hostname pattern: a hostname whose labels may hold '*'.
bool ValidHostPattern(std::string_view h) {
  std::string plain(h);
  std::replace(plain.begin(), plain.end(), '*', 'x');
  return ValidHostname(plain);
}

// Whether `name` matches `pattern` ('*': one or more letters, digits or '-'; never a '.').
bool HostMatches(std::string_view pattern, std::string_view name) {
  if (pattern.empty()) return name.empty();
  if (pattern[0] != '*')
    return !name.empty() && name[0] == pattern[0] && HostMatches(pattern.substr(1), name.substr(1));
  for (size_t n = 1; n <= name.size() && name[n - 1] != '.'; n++)
    if (HostMatches(pattern.substr(1), name.substr(n))) return true;
  return false;
}

std::string TokenHash(std::string_view token) { return HexEncode(Sha256(AsBytes(token))); }

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ParseLabels(std::string_view text) {
  std::map<std::string, std::string> out;
  for (std::string_view part : StrSplit(text, ',', /*skip_empty=*/true)) {
    const size_t eq = part.find('=');
    std::string_view k = eq == std::string_view::npos ? part : part.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? "" : part.substr(eq + 1);
    if (!LabelText(k) || !LabelText(v)) {
      return absl::InvalidArgumentError(StrCat(
          "label \"", part, "\" must be KEY=VALUE of lowercase letters, digits, '.', '_' or '-'"));
    }
    out[std::string(k)] = std::string(v);
  }
  if (out.size() > kMaxLabels) return absl::InvalidArgumentError("too many labels");
  return out;
}

absl::StatusOr<IssuedJoinToken> HostRegistry::CreateJoinToken(
    const Identity& who, int tier, const std::map<std::string, std::string>& labels, int64_t ttl,
    const std::vector<std::string>& hostnames, std::string_view kind, int uses) {
  if (!policy_.IsAdmin(who.user)) {
    return absl::PermissionDeniedError("creating host join tokens is for admins");
  }
  if (kind != kHostKind && kind != kGatewayKind)
    return absl::InvalidArgumentError(StrCat("a join token enrolls a host or a gateway, not \"",
                                             kind.substr(0, 32), "\""));
  if (tier < 0 || tier > kMaxTier) return absl::InvalidArgumentError(StrCat("tier must be 0..", kMaxTier));
  if (ttl == 0) ttl = kDefaultJoinTokenTtl;
  if (ttl < 0 || ttl > kMaxJoinTokenTtl) {
    return absl::InvalidArgumentError("a join token lives between 1 second and 7 days");
  }
  for (const auto& [k, v] : labels) {
    if (!LabelText(k) || !LabelText(v)) return absl::InvalidArgumentError("bad label " + k);
  }
  if (hostnames.empty()) {
    return absl::InvalidArgumentError(
        "a join token names the host it enrolls: add --hostname NAME (repeat it for several)");
  }
  if (hostnames.size() > kMaxJoinTokenHostnames) {
    return absl::InvalidArgumentError(
        StrCat("a join token names at most ", kMaxJoinTokenHostnames, " hostnames"));
  }
  for (const auto& h : hostnames) {
    if (!ValidHostPattern(h) || h.find("**") != std::string::npos) {
      return absl::InvalidArgumentError(
          StrCat("hostname \"", h.substr(0, 64),
                 "\" must be 1-253 lowercase letters, digits, '-' and '.', not starting with "
                 "'-' or '.' ('*' in a label for a pattern)"));
    }
  }
  if (uses < 1 || uses > kMaxJoinTokenUses)
    return absl::InvalidArgumentError(StrCat("a join token enrolls 1 to ", kMaxJoinTokenUses, " hosts"));
  IssuedJoinToken t;
  t.token = StrCat(kTokenPrefix, RandomId(52));
  t.tier = tier;
  t.expires = clock_.Now() + ttl;
  t.hostnames = hostnames;
  t.kind = std::string(kind);
  t.uses = uses;
  RETURN_IF_ERROR(store_.InsertJoinToken({TokenHash(t.token), tier, nlohmann::json(labels).dump(),
                                          clock_.Now(), t.expires, who.user, 0, "",
                                          nlohmann::json(hostnames).dump(), t.kind, uses, 0}));
  return t;
}

absl::StatusOr<Identity> HostRegistry::IdentityFromCertificate(std::string_view pem) {
  ASSIGN_OR_RETURN(CertificateSubject subject, ReadCertificateSubject(pem));
  if (subject.organizational_unit != kHostOu) {
    return absl::PermissionDeniedError("this call is for enrolled hosts (wardend)");
  }
  if (subject.not_after <= clock_.Now()) {
    return absl::UnauthenticatedError("the host certificate has expired; enroll the host again");
  }
  ASSIGN_OR_RETURN(HostRow h, Host(subject.common_name));
  Identity id;
  id.user = StrCat(h.kind == kGatewayKind ? "gateway/" : "host/", subject.common_name);
  id.host_id = subject.common_name;
  id.host_kind = h.kind;
  id.tier = h.tier;
  id.expires = subject.not_after;
  return id;
}

absl::StatusOr<HostRow> HostRegistry::Host(std::string_view host_id) {
  ASSIGN_OR_RETURN(std::optional<HostRow> h, store_.GetHost(host_id));
  if (!h) return absl::PermissionDeniedError(StrCat("host ", host_id, " is not enrolled"));
  if (!h->replaced_by.empty())
    return absl::PermissionDeniedError(StrCat("host ", host_id, " (", h->hostname, ") was enrolled again as ",
                                              h->replaced_by, ": this identity no longer works"));
  return *h;
}

absl::StatusOr<HostState> HostRegistry::State(std::string_view host_id) {
  HostState st;
  std::vector<GrantRow> grants;
  {
    // Revision and grants read in one snapshot, so a host never holds a revision newer than its
    // data; a read transaction, so building every watching host's state takes no write lock.
    ASSIGN_OR_RETURN(Transaction tx, store_.BeginRead());
    ASSIGN_OR_RETURN(HostRow h, Host(host_id));
    if (h.kind == kGatewayKind)
      return absl::PermissionDeniedError(StrCat(host_id, " enrolled as a gateway: it holds no "
                                                "accounts and is sent no host state"));
    st.host_id = h.id;
    st.tier = h.tier;
    ASSIGN_OR_RETURN(st.revision, access_store_.GetCounter(kHostStateCounter));
    ASSIGN_OR_RETURN(grants, access_store_.ListLiveGrants(clock_.Now()));
    const auto labels = nlohmann::json::parse(h.labels).get<std::map<std::string, std::string>>();
    std::map<std::string, HostGroup> groups;
    for (auto& g : grants) {
      auto role = policy_.FindRole(g.role);
      if (!role.ok() || (*role)->tier != h.tier || !(*role)->SelectsHost(labels) ||
          !(*role)->broker_target.empty())
        continue;
      HostAccount a;
      a.gid = g.uid;
      a.gecos = StrCat("Warden ", g.user, " ", g.id);
      a.home = StrCat(kHomeRoot, "/", g.login);
      a.shell = (*role)->shell;
      a.sudo_rule = (*role)->sudo_rule;
      a.recording_input = (*role)->recording_input;
      a.recording_mode = (*role)->recording_mode;
      a.max_redacted_lines = (*role)->max_redacted_lines;
      a.on_redaction_limit = (*role)->on_redaction_limit;
      // Moderation settings only where they apply, so a host never acts on a default: the
      // count and on_leave for four-eyes roles, the wait also for sessions held at their
      // redaction limit.
      a.moderators_required = (*role)->moderators_required;
      if (a.moderators_required > 0) a.moderator_on_leave = (*role)->moderator_on_leave;
      if (a.moderators_required > 0 || a.on_redaction_limit == "hold")
        a.moderator_wait = (*role)->moderator_wait;
      a.groups = (*role)->account_groups;
      for (const auto& name : a.groups) {
        HostGroup& hg = groups[name];
        if (hg.name.empty()) {
          hg.name = name;
          ASSIGN_OR_RETURN(hg.gid, access_store_.GroupGid(name, [] () -> absl::StatusOr<uint32_t> {
            return absl::InternalError("group has no gid; it is allocated when a grant is made");
          }));
        }
        hg.members.push_back(g.login);
        hg.expires = std::max(hg.expires, g.end);
      }
      a.grant = std::move(g);
      st.accounts.push_back(std::move(a));
    }
    for (auto& [name, g] : groups) st.groups.push_back(std::move(g));
    RETURN_IF_ERROR(tx.Commit());
  }
  ASSIGN_OR_RETURN(std::vector<CaKeyRow> keys, ca_.TrustedKeys("user", st.tier));
  for (const auto& k : keys) {
    ASSIGN_OR_RETURN(PublicKey pub, ParsePublicKey(k.public_key));
    st.trusted_user_ca_keys.push_back(FormatAuthorizedKey(pub, k.label));
  }
  ASSIGN_OR_RETURN(st.krl, ca_.CurrentKrl());
  return st;
}

absl::Status HostRegistry::IssueClientCertificate(const std::string& hostname, EVP_PKEY* key,
                                                  Enrollment& e) {
  const int64_t now = clock_.Now();
  e.expires = now + kHostCertTtl;
  X509Profile p;
  p.common_name = e.host_id;
  p.organizational_unit = std::string(kHostOu);
  p.dns_names = {hostname};
  p.client_auth = true;
  p.not_before_unix = now - 60;
  p.not_after_unix = e.expires;
  ASSIGN_OR_RETURN(X509Ptr cert, IssueX509(keys_, ca_label_, ca_cert_.get(), key, p));
  ASSIGN_OR_RETURN(e.certificate_pem, CertificateToPem(cert.get()));
  return absl::OkStatus();
}

absl::StatusOr<Enrollment> HostRegistry::Renew(std::string_view host_id,
                                               std::string_view csr_pem) {
  ASSIGN_OR_RETURN(HostRow h, Host(host_id));
  ASSIGN_OR_RETURN(EvpPkeyPtr key, VerifiedCertificateRequestKey(csr_pem));
  Enrollment e;
  e.host_id = h.id;
  e.tier = h.tier;
  e.labels = nlohmann::json::parse(h.labels).get<std::map<std::string, std::string>>();
  RETURN_IF_ERROR(IssueClientCertificate(h.hostname, key.get(), e));
  RETURN_IF_ERROR(store_.SetHostCertExpiry(h.id, e.expires));
  return e;
}

absl::StatusOr<Enrollment> HostRegistry::Enroll(std::string_view token, std::string_view hostname,
                                                std::string_view csr_pem,
                                                std::string_view ssh_host_key,
                                                std::string_view kind) {
  if (!ValidHostname(hostname)) {
    return absl::InvalidArgumentError("hostname must be lowercase letters, digits, '-' and '.'");
  }
  ASSIGN_OR_RETURN(PublicKey host_key, ParseAuthorizedKey(ssh_host_key, nullptr));
  if (host_key.type == KeyType::kDsa || host_key.type == KeyType::kSkEd25519 ||
      host_key.type == KeyType::kSkEcdsaP256) {
    return absl::InvalidArgumentError("SSH host keys must be Ed25519, ECDSA or RSA");
  }
  RETURN_IF_ERROR(CheckUserKeyAcceptable(host_key));
  ASSIGN_OR_RETURN(EvpPkeyPtr key, VerifiedCertificateRequestKey(csr_pem));

  const std::string hash = TokenHash(token);
  const int64_t now = clock_.Now();
  ASSIGN_OR_RETURN(std::optional<JoinTokenRow> row, store_.GetJoinToken(hash));
  if (!row) return absl::UnauthenticatedError("join token not recognised");
  if (row->used_count >= row->uses) {
    return absl::UnauthenticatedError(
        row->uses == 1 ? StrCat("join token was already used by host ", row->used_by,
                                "; it was single-use (--uses N makes one for a fleet)")
                       : StrCat("join token was used for all ", row->uses,
                                " hosts it may enroll (the last: ", row->used_by, ")"));
  }
  if (now >= row->expires) {
    return absl::UnauthenticatedError(
        StrCat("join token expired; create a new one with: wardenctl host token create --tier ",
               row->tier, " --hostname ", hostname));
  }
  const auto allowed = nlohmann::json::parse(row->hostnames).get<std::vector<std::string>>();
  if (allowed.empty()) {
    return absl::PermissionDeniedError(StrCat(
        "this join token names no hostname (it predates hostname-bound tokens); create a new one "
        "with: wardenctl host token create --tier ", row->tier, " --hostname ", hostname));
  }
  if (kind != row->kind)
    return absl::FailedPreconditionError(StrCat(
        "this join token enrolls a ", row->kind, ", not a ", kind.substr(0, 32), ": ",
        row->kind == kGatewayKind ? "enroll it with warden-sshgw enroll"
                                  : "enroll it with wardend enroll",
        ", or create a token with --kind ", kind.substr(0, 32)));
  if (std::none_of(allowed.begin(), allowed.end(),
                   [&](const std::string& p) { return HostMatches(p, hostname); })) {
    return absl::PermissionDeniedError(StrCat("this join token enrolls only ",
                                              StrJoin(allowed, ", "), ", not ", hostname));
  }
  Enrollment e;
  e.kind = row->kind;
  e.host_id = (row->kind == kGatewayKind ? "g-" : "h-") + RandomId(12);
  e.tier = row->tier;
  e.labels = nlohmann::json::parse(row->labels).get<std::map<std::string, std::string>>();
  // Issue first, consume the token last: a failure on the way leaves the token usable.
  RETURN_IF_ERROR(IssueClientCertificate(std::string(hostname), key.get(), e));
  ASSIGN_OR_RETURN(IssuedCertificate host_cert,
                   ca_.SignHostKey(host_key, hostname, e.host_id, e.tier, kHostCertTtl));
  e.ssh_host_certificate = host_cert.line;
  ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
  // Single use even against a concurrent enrollment with the same token.
  // Never more hosts than it may enroll, even against concurrent enrollments with it.
  ASSIGN_OR_RETURN(bool used, store_.UseJoinToken(hash, now, e.host_id));
  if (!used) return absl::UnauthenticatedError("join token has no use left");
  RETURN_IF_ERROR(store_.InsertHost({e.host_id, std::string(hostname), e.tier, row->labels, now,
                                     e.expires, row->kind, ""}));
  // A machine enrolled again under its name (reimaged) replaces its old identity: a stale one
  // must not keep working beside it.
  ASSIGN_OR_RETURN(int replaced, store_.ReplaceHosts(hostname, row->kind, e.host_id));
  e.replaced = replaced;
  RETURN_IF_ERROR(tx.Commit());
  return e;
}

}  // namespace warden
