#include "controller/core/host_registry.h"

#include <nlohmann/json.hpp>

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
  if (h.empty() || h.size() > 253 || h.front() == '-' || h.front() == '.') return false;
  for (char c : h) {
    if (!(IsLowerAlpha(c) || IsDigit(c) || c == '-' || c == '.')) return false;
  }
  return true;
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
    const Identity& who, int tier, const std::map<std::string, std::string>& labels, int64_t ttl) {
  if (!policy_.IsAdmin(who.user)) {
    return absl::PermissionDeniedError("creating host join tokens is for admins");
  }
  if (tier < 0 || tier > kMaxTier) return absl::InvalidArgumentError(StrCat("tier must be 0..", kMaxTier));
  if (ttl == 0) ttl = kDefaultJoinTokenTtl;
  if (ttl < 0 || ttl > kMaxJoinTokenTtl) {
    return absl::InvalidArgumentError("a join token lives between 1 second and 7 days");
  }
  for (const auto& [k, v] : labels) {
    if (!LabelText(k) || !LabelText(v)) return absl::InvalidArgumentError("bad label " + k);
  }
  IssuedJoinToken t;
  t.token = StrCat(kTokenPrefix, RandomId(52));
  t.tier = tier;
  t.expires = clock_.Now() + ttl;
  RETURN_IF_ERROR(store_.InsertJoinToken({TokenHash(t.token), tier, nlohmann::json(labels).dump(),
                                          clock_.Now(), t.expires, who.user, 0, ""}));
  return t;
}

absl::StatusOr<Enrollment> HostRegistry::Enroll(std::string_view token, std::string_view hostname,
                                                std::string_view csr_pem,
                                                std::string_view ssh_host_key) {
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
  if (row->used_at) {
    return absl::UnauthenticatedError(StrCat("join token was already used by host ", row->used_by,
                                             "; join tokens are single-use"));
  }
  if (now >= row->expires) {
    return absl::UnauthenticatedError(
        StrCat("join token expired; create a new one with: wardenctl host token create --tier ",
               row->tier));
  }
  Enrollment e;
  e.host_id = "h-" + RandomId(12);
  e.tier = row->tier;
  e.labels = nlohmann::json::parse(row->labels).get<std::map<std::string, std::string>>();
  e.expires = now + kHostCertTtl;
  // Issue first, consume the token last: a failure on the way leaves the token usable.
  X509Profile p;
  p.common_name = e.host_id;
  p.organizational_unit = std::string(kHostOu);
  p.dns_names = {std::string(hostname)};
  p.client_auth = true;
  p.not_before_unix = now - 60;
  p.not_after_unix = e.expires;
  ASSIGN_OR_RETURN(X509Ptr cert, IssueX509(keys_, ca_label_, ca_cert_.get(), key.get(), p));
  ASSIGN_OR_RETURN(e.certificate_pem, CertificateToPem(cert.get()));
  ASSIGN_OR_RETURN(IssuedCertificate host_cert,
                   ca_.SignHostKey(host_key, hostname, e.host_id, kHostCertTtl));
  e.ssh_host_certificate = host_cert.line;
  Store::Transaction tx(store_);
  // Single use even against a concurrent enrollment with the same token.
  ASSIGN_OR_RETURN(bool used, store_.UseJoinToken(hash, now, e.host_id));
  if (!used) return absl::UnauthenticatedError("join token was already used; they are single-use");
  RETURN_IF_ERROR(store_.InsertHost({e.host_id, std::string(hostname), e.tier, row->labels, now,
                                     e.expires}));
  RETURN_IF_ERROR(tx.Commit());
  return e;
}

}  // namespace warden
