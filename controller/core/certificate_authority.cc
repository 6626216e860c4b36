#include "controller/core/certificate_authority.h"

#include <optional>

#include "common/strings.h"

namespace warden {
namespace {

constexpr int64_t kBackdate = 60;  // tolerate clock skew between controller and hosts

// Host CAs made before there was one per tier are labelled "host-ca-N" (and are tier 0's).
std::string CaLabel(std::string_view purpose, int tier, int64_t generation) {
  return StrCat(purpose, "-ca-tier", tier, "-", generation);
}

// The algorithm of an existing CA key (its stored public key is one the token made).
absl::StatusOr<KeyAlgorithm> AlgorithmOf(const CaKeyRow& row) {
  auto pub = ParsePublicKey(row.public_key);
  if (pub.ok() && pub->type == KeyType::kEd25519) return KeyAlgorithm::kEd25519;
  if (pub.ok() && pub->type == KeyType::kEcdsaP256) return KeyAlgorithm::kEcdsaP256;
  return absl::DataLossError(StrCat("the stored public key of CA ", row.label,
                                    " is not an Ed25519 or P-256 key; the database is damaged"));
}

}  // namespace

absl::Status CertificateAuthority::CreateInitialKeys(KeyAlgorithm alg) {
  for (int tier = 0; tier <= kMaxTier; tier++) {
    const std::string label = CaLabel("user", tier, 1);
    ASSIGN_OR_RETURN(PublicKey pub, keys_.Generate(label, alg));
    RETURN_IF_ERROR(store_.InsertCaKey({"user", tier, label, pub.blob, "active", clock_.Now()}));
  }
  for (int tier = 0; tier <= kMaxTier; tier++) {
    const std::string label = CaLabel("host", tier, 1);
    ASSIGN_OR_RETURN(PublicKey pub, keys_.Generate(label, alg));
    RETURN_IF_ERROR(store_.InsertCaKey({"host", tier, label, pub.blob, "active", clock_.Now()}));
  }
  return absl::OkStatus();
}

absl::Status CertificateAuthority::EnsureHostCas() {
  std::lock_guard lock(mu_);
  std::optional<KeyAlgorithm> existing;
  std::vector<int> missing;
  for (int tier = 0; tier <= kMaxTier; tier++) {
    ASSIGN_OR_RETURN(std::vector<CaKeyRow> rows, store_.ListCaKeys("host", tier));
    if (rows.empty()) missing.push_back(tier);
    if (!rows.empty() && !existing) {
      ASSIGN_OR_RETURN(existing, AlgorithmOf(rows.front()));
    }
  }
  // Every init makes host CAs, so there is one to follow unless the database was emptied.
  const KeyAlgorithm alg = existing.value_or(kDefaultKeyAlgorithm);
  for (int tier : missing) {
    const std::string label = CaLabel("host", tier, 1);
    ASSIGN_OR_RETURN(PublicKey pub, keys_.Generate(label, alg));
    RETURN_IF_ERROR(store_.InsertCaKey({"host", tier, label, pub.blob, "active", clock_.Now()}));
  }
  return absl::OkStatus();
}

absl::StatusOr<CaKeyRow> CertificateAuthority::IssuingKey(int tier) {
  std::lock_guard lock(mu_);
  auto it = issuing_.find(tier);
  if (it != issuing_.end()) return it->second;
  ASSIGN_OR_RETURN(std::vector<CaKeyRow> rows, store_.ListCaKeys("user", tier));
  for (const auto& r : rows) {
    if (r.state == "active") {
      issuing_[tier] = r;
      return r;
    }
  }
  return absl::FailedPreconditionError(StrCat("no active user CA for tier ", tier,
                                                    "; was warden-controller init run?"));
}

absl::StatusOr<IssuedCertificate> CertificateAuthority::SignUserKey(const Identity& who,
                                                                    const SignRequest& req) {
  std::string comment;
  ASSIGN_OR_RETURN(PublicKey key, ParseAuthorizedKey(req.public_key, &comment));
  RETURN_IF_ERROR(CheckUserKeyAcceptable(key));
  ASSIGN_OR_RETURN(GrantRow grant, access_.UsableGrant(who, req.grant_id));
  ASSIGN_OR_RETURN(const Role* role, access_.policy().FindRole(grant.role));

  Certificate c;
  c.key = std::move(key);
  c.type = kUserCert;
  c.nonce = RandomBytes(32);
  c.principals = {grant.login};
  const int64_t now = clock_.Now();
  c.valid_after = static_cast<uint64_t>(now - kBackdate);
  c.valid_before = static_cast<uint64_t>(std::min(grant.end, now + role->cert_ttl));

  // Extensions: a subset of the role's allowed set, or its defaults.
  if (req.extensions.empty()) {
    for (const auto& e : role->default_extensions) c.extensions[e] = "";
  } else {
    for (const auto& e : req.extensions) {
      if (!role->allowed_extensions.count(e)) {
        return absl::PermissionDeniedError(StrCat(
            "extension ", e, " is not allowed by role ", role->name, "; allowed: ",
            StrJoin(role->allowed_extensions, ", ")));
      }
      c.extensions[e] = "";
    }
  }
  // Critical options: the role's are mandatory; the request may only narrow them.
  std::vector<std::string> sources = role->source_addresses;
  if (!req.source_addresses.empty()) {
    for (const auto& s : req.source_addresses) {
      ASSIGN_OR_RETURN(Cidr inner, ParseCidr(s));
      bool inside = role->source_addresses.empty();
      for (const auto& o : role->source_addresses) inside |= CidrContains(*ParseCidr(o), inner);
      if (!inside) {
        return absl::PermissionDeniedError(StrCat(
            "source address ", s, " is outside the role's source-address ",
            StrJoin(role->source_addresses, ",")));
      }
    }
    sources = req.source_addresses;
  }
  if (!sources.empty()) c.critical_options["source-address"] = StrJoin(sources, ",");
  if (!req.force_command.empty() && !role->force_command.empty() &&
      req.force_command != role->force_command) {
    return absl::PermissionDeniedError(StrCat("role ", role->name,
                                                    " forces the command \"", role->force_command,
                                                    "\"; it cannot be replaced"));
  }
  const std::string force = role->force_command.empty() ? req.force_command : role->force_command;
  if (!force.empty()) c.critical_options["force-command"] = force;

  ASSIGN_OR_RETURN(CaKeyRow ca, IssuingKey(grant.tier));
  c.signature_key = ca.public_key;
  // A random serial; the primary key catches the (2^-64) collision and we draw again.
  for (int attempt = 0;; attempt++) {
    do {
      c.serial = RandomU64();
    } while (c.serial == 0);
    c.key_id = StrCat(who.user, ":", grant.id, ":", c.serial);
    Bytes tbs = EncodeCertificateToBeSigned(c);
    ASSIGN_OR_RETURN(c.signature, SignSsh(keys_, ca.label, tbs));
    absl::Status st = store_.InsertCert({c.serial, c.key_id, Fingerprint(c.key.blob), grant.id,
                                         ca.public_key, static_cast<int64_t>(c.valid_after),
                                         static_cast<int64_t>(c.valid_before)});
    if (st.ok()) break;
    if (!absl::IsAlreadyExists(st) || attempt >= 3) return st;
  }
  IssuedCertificate out;
  out.line = FormatCertificateLine(c, comment);
  out.ca_fingerprint = Fingerprint(ca.public_key);
  out.cert = std::move(c);
  return out;
}

absl::StatusOr<IssuedCertificate> CertificateAuthority::SignHostKey(const PublicKey& key,
                                                                    std::string_view hostname,
                                                                    std::string_view host_id,
                                                                    int tier, int64_t ttl) {
  if (tier < 0 || tier > kMaxTier) {
    return absl::InvalidArgumentError(StrCat("tier must be 0..", kMaxTier));
  }
  ASSIGN_OR_RETURN(std::vector<CaKeyRow> rows, store_.ListCaKeys("host", tier));
  const CaKeyRow* ca = nullptr;
  for (const auto& r : rows) {
    if (r.state == "active") ca = &r;
  }
  if (!ca) {
    return absl::FailedPreconditionError(
        StrCat("no active SSH host CA for tier ", tier, "; was warden-controller init run?"));
  }
  Certificate c;
  c.key = key;
  c.type = kHostCert;
  c.nonce = RandomBytes(32);
  do {
    c.serial = RandomU64();
  } while (c.serial == 0);
  c.key_id = StrCat("host:", host_id);
  c.principals = {std::string(hostname)};
  const int64_t now = clock_.Now();
  c.valid_after = static_cast<uint64_t>(now - kBackdate);
  c.valid_before = static_cast<uint64_t>(now + ttl);
  c.signature_key = ca->public_key;
  ASSIGN_OR_RETURN(c.signature, SignSsh(keys_, ca->label, EncodeCertificateToBeSigned(c)));
  IssuedCertificate out;
  out.line = FormatCertificateLine(c, StrCat("host:", host_id));
  out.ca_fingerprint = Fingerprint(ca->public_key);
  out.cert = std::move(c);
  return out;
}

absl::StatusOr<std::vector<CaKeyRow>> CertificateAuthority::TrustedKeys(std::string_view purpose,
                                                                        int tier) {
  if (tier < 0 || tier > kMaxTier) {
    return absl::InvalidArgumentError(StrCat("tier must be 0..", kMaxTier));
  }
  ASSIGN_OR_RETURN(std::vector<CaKeyRow> rows, store_.ListCaKeys(purpose, tier));
  std::vector<CaKeyRow> out;
  for (auto& r : rows) {
    if (r.state != "retired") out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<std::vector<CaKeyRow>> CertificateAuthority::Rotate(
    const Identity& who, int tier, bool finish, std::optional<KeyAlgorithm> algorithm) {
  if (!access_.policy().IsAdmin(who.user)) {
    return absl::PermissionDeniedError("CA rotation is for admins");
  }
  if (tier < 0 || tier > kMaxTier) {
    return absl::InvalidArgumentError(StrCat("tier must be 0..", kMaxTier));
  }
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(std::vector<CaKeyRow> rows, store_.ListCaKeys("user", tier));
  std::vector<const CaKeyRow*> retiring;
  const CaKeyRow* active = nullptr;
  for (const auto& r : rows) {
    if (r.state == "retiring") retiring.push_back(&r);
    if (r.state == "active") active = &r;
  }
  if (finish) {
    if (algorithm) {
      return absl::InvalidArgumentError(
          "an algorithm is chosen when a rotation starts, not when it finishes");
    }
    if (retiring.empty()) {
      return absl::FailedPreconditionError(StrCat("tier ", tier,
                                                        " has no rotation in progress"));
    }
    ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
    for (const auto* r : retiring) RETURN_IF_ERROR(store_.SetCaKeyState(r->label, "retired"));
    RETURN_IF_ERROR(store_.BumpCounter(kHostStateCounter).status());
    RETURN_IF_ERROR(tx.Commit());
  } else {
    if (!retiring.empty()) {
      return absl::FailedPreconditionError(StrCat(
          "tier ", tier, " is already rotating; finish it first with: wardenctl ca rotate --tier ",
          tier, " --finish"));
    }
    const std::string label = CaLabel("user", tier, static_cast<int64_t>(rows.size()) + 1);
    // Unless asked (a move of an Ed25519 CA to P-256), the current key's algorithm: a site that
    // pins CASignatureAlgorithms in sshd or clients keeps working.
    KeyAlgorithm alg = algorithm.value_or(kDefaultKeyAlgorithm);
    if (active && !algorithm) {
      ASSIGN_OR_RETURN(alg, AlgorithmOf(*active));
    }
    ASSIGN_OR_RETURN(PublicKey pub, keys_.Generate(label, alg));
    ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
    if (active) RETURN_IF_ERROR(store_.SetCaKeyState(active->label, "retiring"));
    RETURN_IF_ERROR(store_.InsertCaKey({"user", tier, label, pub.blob, "active", clock_.Now()}));
    RETURN_IF_ERROR(store_.BumpCounter(kHostStateCounter).status());
    RETURN_IF_ERROR(tx.Commit());
  }
  issuing_.erase(tier);
  access_.changes().Publish();
  ASSIGN_OR_RETURN(rows, store_.ListCaKeys("user", tier));
  std::vector<CaKeyRow> out;
  for (auto& r : rows) {
    if (r.state != "retired") out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<KrlSnapshot> CertificateAuthority::CurrentKrl() {
  ASSIGN_OR_RETURN(int64_t version, store_.GetCounter("krl_version"));
  std::lock_guard lock(mu_);
  if (krl_valid_ && krl_.version == static_cast<uint64_t>(version)) return krl_;
  ASSIGN_OR_RETURN(std::vector<CertRow> certs, store_.ListRevokedLiveCerts(clock_.Now()));
  std::map<Bytes, KrlCertSection> by_ca;
  for (const auto& c : certs) {
    KrlCertSection& sec = by_ca[c.ca_key];
    sec.ca_key = c.ca_key;
    sec.serials.insert(c.serial);
    sec.key_ids.insert(c.key_id);
  }
  Krl krl;
  krl.version = static_cast<uint64_t>(version);
  krl.generated_date = static_cast<uint64_t>(clock_.Now());
  krl.comment = "warden";
  for (auto& [ca, sec] : by_ca) krl.cert_sections.push_back(std::move(sec));
  krl_ = {krl.version, EncodeKrl(krl), static_cast<uint32_t>(certs.size())};
  krl_valid_ = true;
  return krl_;
}

}  // namespace warden
