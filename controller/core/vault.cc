#include "controller/core/vault.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/aead.h"
#include "common/crypto.h"
#include "common/strings.h"
#include "common/totp.h"

namespace warden {
namespace {

constexpr std::string_view kRootAad = "warden-vault-root-v1";
constexpr std::string_view kCheckAad = "warden-vault-check-v1";
constexpr std::string_view kCheckText = "warden vault root key";

// Associated data: binds a blob to its path and version (and to what it is).
Bytes Binding(std::string_view what, std::string_view path, int64_t version) {
  return ToBytes(StrCat(what, '\0', path, '\0', version));
}

}  // namespace

absl::Status CheckSecretPath(std::string_view path) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(
        "a secret path is 1-256 bytes of segments of letters, digits, '.', '_' and '-' separated "
        "by '/', e.g. kv/tier0/domain-admin");
  };
  if (path.empty() || path.size() > 256) return bad();
  for (std::string_view seg : StrSplit(path, '/', false)) {
    if (seg.empty() || seg == "." || seg == "..") return bad();
    for (char c : seg) {
      if (!(IsLowerAlpha(c | 0x20) || IsDigit(c) || c == '.' || c == '_' || c == '-')) return bad();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> InitializeVault(VaultStore& store, KeyStore& keys,
                                                         const VaultInit& init) {
  if (init.mode != "pkcs11" && init.mode != "shamir")
    return absl::InvalidArgumentError(StrCat("unknown seal \"", init.mode, "\"; use pkcs11 or shamir"));
  ASSIGN_OR_RETURN(std::optional<VaultSealRow> existing, store.GetVaultSeal());
  if (existing) return absl::AlreadyExistsError("the vault is already initialised");
  Bytes raw = RandomBytes(kAeadKeySize);
  SecretBytes root(raw);
  OPENSSL_cleanse(raw.data(), raw.size());
  VaultSealRow row;
  row.mode = init.mode;
  row.set_id = static_cast<uint32_t>(RandomU64());
  row.shares = init.shares;
  row.threshold = init.threshold;
  ASSIGN_OR_RETURN(std::vector<Share> shares,
                   SplitSecret(root.span(), init.shares, init.threshold, row.set_id));
  if (init.mode == "pkcs11") {
    RETURN_IF_ERROR(keys.GenerateEncryptionKey(kVaultKekLabel));
    ASSIGN_OR_RETURN(row.wrapped_root, keys.Encrypt(kVaultKekLabel, AsBytes(kRootAad), root.span()));
  }
  ASSIGN_OR_RETURN(row.check, AeadSeal(root.span(), AsBytes(kCheckAad), AsBytes(kCheckText)));
  RETURN_IF_ERROR(store.PutVaultSeal(row));
  std::vector<std::string> out;
  for (const Share& s : shares) out.push_back(EncodeShare(s));
  return out;
}

absl::Status Vault::Start() {
  ASSIGN_OR_RETURN(std::optional<VaultSealRow> row, store_.GetVaultSeal());
  if (!row || row->mode != "pkcs11") return absl::OkStatus();
  ASSIGN_OR_RETURN(SecretBytes root,
                   keys_.Decrypt(kVaultKekLabel, AsBytes(kRootAad), row->wrapped_root));
  if (!AeadOpen(root.span(), AsBytes(kCheckAad), row->check).ok())
    return absl::DataLossError("the token's key-encryption key does not open the vault's root key");
  std::lock_guard lock(mu_);
  root_ = std::move(root);
  return absl::OkStatus();
}

VaultStatus Vault::Status() {
  VaultStatus st;
  auto row = store_.GetVaultSeal();
  if (!row.ok() || !*row) return st;
  st.initialized = true;
  st.mode = (*row)->mode;
  st.shares = (*row)->shares;
  st.threshold = (*row)->threshold;
  std::lock_guard lock(mu_);
  st.sealed = root_.size() == 0;
  st.progress = static_cast<int>(pending_.size());
  return st;
}

absl::StatusOr<VaultStatus> Vault::StatusFor(const Identity& who) {
  if (!who.host_id.empty() || (!policy_.InAnyGroup(who.user, policy_.vault_custodian_groups) &&
                               !policy_.IsAdmin(who.user)))
    return absl::PermissionDeniedError(
        StrCat(who.user, " may not see the vault's seal status (custodians and admins: ",
               StrJoin(policy_.vault_custodian_groups, ", "), "; ",
               StrJoin(policy_.admin_groups, ", "), ")"));
  return Status();
}

absl::StatusOr<VaultStatus> Vault::Unseal(const Identity& who, std::string_view share_text) {
  if (!who.host_id.empty() || !policy_.InAnyGroup(who.user, policy_.vault_custodian_groups))
    return absl::PermissionDeniedError(
        StrCat(who.user, " is not a vault custodian (vault.custodians: ",
               StrJoin(policy_.vault_custodian_groups, ", "), ")"));
  ASSIGN_OR_RETURN(std::optional<VaultSealRow> row, store_.GetVaultSeal());
  if (!row) return absl::FailedPreconditionError("the vault is not initialised");
  ASSIGN_OR_RETURN(Share share, DecodeShare(share_text));
  {
    std::lock_guard lock(mu_);
    if (root_.size() != 0) return absl::FailedPreconditionError("the vault is already unsealed");
    if (share.set_id != row->set_id)
      return absl::InvalidArgumentError("this share belongs to another vault (another init)");
    for (const Share& s : pending_) {
      if (s.index == share.index)
        return absl::InvalidArgumentError(
            StrCat("share ", int{share.index}, " was already given; the next must be another"));
    }
    if (std::find(givers_.begin(), givers_.end(), who.user) != givers_.end())
      return absl::FailedPreconditionError(
          StrCat(who.user, " already gave a share; the next must come from another custodian"));
    pending_.push_back(std::move(share));
    givers_.push_back(who.user);
    if (static_cast<int>(pending_.size()) >= row->threshold) {
      absl::StatusOr<SecretBytes> root = CombineShares(pending_);
      pending_.clear();
      givers_.clear();
      if (!root.ok() || !AeadOpen(root->span(), AsBytes(kCheckAad), row->check).ok())
        return absl::InvalidArgumentError(
            "these shares do not rebuild the vault's root key: at least one is wrong. The shares "
            "given so far were dropped; start again");
      root_ = std::move(*root);
    }
  }
  return Status();
}

absl::Status Vault::Seal(const Identity& who) {
  if (!who.host_id.empty() || !policy_.InAnyGroup(who.user, policy_.vault_custodian_groups))
    return absl::PermissionDeniedError(StrCat(who.user, " is not a vault custodian"));
  std::lock_guard lock(mu_);
  root_ = SecretBytes();
  pending_.clear();
  givers_.clear();
  return absl::OkStatus();
}

absl::Status Vault::RequireUnsealed() {
  ASSIGN_OR_RETURN(std::optional<VaultSealRow> row, store_.GetVaultSeal());
  if (!row)
    return absl::FailedPreconditionError(
        "the vault is not initialised (warden-controller init --seal pkcs11|shamir creates it)");
  std::lock_guard lock(mu_);
  if (root_.size() == 0)
    return absl::UnavailableError(
        "the vault is sealed: no secret can be read or written until custodians unseal it "
        "(wardenctl operator unseal)");
  return absl::OkStatus();
}

absl::StatusOr<const VaultPathPolicy*> Vault::Allowed(const Identity& who, std::string_view path,
                                                      std::string_view capability) {
  RETURN_IF_ERROR(CheckSecretPath(path));
  const VaultPathPolicy* vp = policy_.VaultPathFor(path);
  if (!who.host_id.empty() || !vp) return absl::PermissionDeniedError(StrCat(who.user, " may not ", capability, " ", path));
  auto it = vp->capabilities.find(std::string(capability));
  if (it == vp->capabilities.end() || !policy_.InAnyGroup(who.user, it->second))
    return absl::PermissionDeniedError(
        StrCat(who.user, " may not ", capability, " ", path, " (vault path \"", vp->pattern,
               "\" grants ", capability, " to: ",
               it == vp->capabilities.end() ? "nobody" : StrJoin(it->second, ", "), ")"));
  return vp;
}

absl::StatusOr<SecretBytes> Vault::Decrypt(const SecretVersionRow& row) {
  return OpenUnder(kVersionKind, row.path, row.version, SealedValue{row.wrapped_key, row.ciphertext});
}

absl::StatusOr<SecretBytes> Vault::RootKey() {
  std::lock_guard lock(mu_);
  if (root_.size() == 0) return absl::UnavailableError("the vault is sealed");
  return SecretBytes(root_.span());
}

absl::StatusOr<SealedValue> Vault::SealUnder(const SealKind& kind, std::string_view path,
                                             int64_t version, ByteSpan value) {
  if (value.empty() || value.size() > kMaxSecretBytes)
    return absl::InvalidArgumentError(StrCat("a secret value is 1 to ", kMaxSecretBytes, " bytes"));
  ASSIGN_OR_RETURN(SecretBytes root, RootKey());
  Bytes raw = RandomBytes(kAeadKeySize);
  SecretBytes key(raw);
  OPENSSL_cleanse(raw.data(), raw.size());
  SealedValue out;
  ASSIGN_OR_RETURN(out.value, AeadSeal(key.span(), Binding(kind.value_label, path, version), value));
  ASSIGN_OR_RETURN(out.key,
                   AeadSeal(root.span(), Binding(kind.key_label, path, version), key.span()));
  return out;
}

absl::StatusOr<SecretBytes> Vault::OpenUnder(const SealKind& kind, std::string_view path,
                                             int64_t version, const SealedValue& sealed) {
  ASSIGN_OR_RETURN(SecretBytes root, RootKey());
  auto key = AeadOpen(root.span(), Binding(kind.key_label, path, version), sealed.key);
  auto value = key.ok() ? AeadOpen(key->span(), Binding(kind.value_label, path, version), sealed.value)
                        : absl::StatusOr<SecretBytes>(key.status());
  if (!value.ok())
    return absl::DataLossError(StrCat("version ", version, " of ", path,
                                      " does not decrypt: its stored blobs were altered or moved "
                                      "from another path or version"));
  return value;
}

absl::StatusOr<int64_t> Vault::InsertVersionInTransaction(std::string_view path, ByteSpan value,
                                                          std::string_view created_by) {
  SecretVersionRow row;
  row.path = std::string(path);
  ASSIGN_OR_RETURN(row.version, store_.NextSecretVersion(path));
  row.created = clock_.Now();
  row.created_by = std::string(created_by);
  ASSIGN_OR_RETURN(SealedValue sealed, SealUnder(kVersionKind, path, row.version, value));
  row.wrapped_key = std::move(sealed.key);
  row.ciphertext = std::move(sealed.value);
  RETURN_IF_ERROR(store_.InsertSecretVersion(row));
  return row.version;
}

absl::StatusOr<int64_t> Vault::Put(const Identity& who, std::string_view path, ByteSpan value) {
  RETURN_IF_ERROR(Allowed(who, path, "write").status());
  RETURN_IF_ERROR(RequireUnsealed());
  ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
  ASSIGN_OR_RETURN(int64_t version, InsertVersionInTransaction(path, value, who.user));
  RETURN_IF_ERROR(tx.Commit());
  return version;
}

absl::StatusOr<SealedValue> Vault::SealPending(std::string_view path, ByteSpan value) {
  return SealUnder(kPendingKind, path, 0, value);
}

absl::StatusOr<SecretBytes> Vault::OpenPending(std::string_view path, const SealedValue& sealed) {
  return OpenUnder(kPendingKind, path, 0, sealed);
}

absl::StatusOr<Vault::Current> Vault::CurrentForController(std::string_view path) {
  RETURN_IF_ERROR(RequireUnsealed());
  ASSIGN_OR_RETURN(std::optional<SecretVersionRow> row, store_.GetSecretVersion(path, 0));
  if (!row || row->destroyed || row->deleted)
    return absl::NotFoundError(StrCat("no live secret at ", path));
  Current out;
  ASSIGN_OR_RETURN(out.value, Decrypt(*row));
  out.version = row->version;
  out.used = row->used;
  return out;
}

absl::StatusOr<SecretBytes> Vault::ReadForController(std::string_view path) {
  ASSIGN_OR_RETURN(Current c, CurrentForController(path));
  return std::move(c.value);
}

absl::StatusOr<SecretRead> Vault::Read(const Identity& who, std::string_view path, int64_t version) {
  ASSIGN_OR_RETURN(const VaultPathPolicy* vp, Allowed(who, path, "read"));
  RETURN_IF_ERROR(RequireUnsealed());
  ASSIGN_OR_RETURN(std::optional<SecretVersionRow> row, store_.GetSecretVersion(path, version));
  if (!row)
    return absl::NotFoundError(version ? StrCat(path, " has no version ", version)
                                       : StrCat("no secret at ", path));
  if (row->destroyed) return absl::NotFoundError(StrCat("version ", row->version, " of ", path, " was destroyed"));
  if (row->deleted) return absl::NotFoundError(StrCat("version ", row->version, " of ", path, " was deleted"));
  const int64_t now = clock_.Now();
  if (vp->checkout) {
    // Refused at once if someone else holds it; taken when the value is handed out.
    ASSIGN_OR_RETURN(std::optional<CheckoutRow> held, store_.GetCheckout(path));
    if (held && held->until > now && held->holder != who.user)
      return absl::FailedPreconditionError(StrCat(path, " is checked out by ", held->holder,
                                                  " until ", UtcText(held->until)));
  }
  SecretRead out;
  out.version = row->version;
  if (vp->approvals > 0) {
    out.token = StrCat("wvt_", Base64Encode(RandomBytes(32), false));
    WrapRow w;
    w.accessor = StrCat("wva_", RandomId(16));
    w.token_hash = Sha256(AsBytes(out.token));
    w.path = row->path;
    w.version = row->version;
    w.requester = who.user;
    w.created = now;
    w.expires = now + std::min(vp->wrap_ttl, policy_.vault_max_wrap_ttl);
    w.approvals_required = vp->approvals;
    w.approver_groups = nlohmann::json(vp->approver_groups).dump();
    w.checkout = vp->checkout;
    RETURN_IF_ERROR(store_.InsertWrap(w));
    ASSIGN_OR_RETURN(out.wrap, Info(w));
    return out;
  }
  ASSIGN_OR_RETURN(out.value, Decrypt(*row));
  if (vp->checkout) {
    ASSIGN_OR_RETURN(out.checked_out_until, CheckOut(who, *vp, path, row->version));
  }
  return out;
}

absl::StatusOr<int64_t> Vault::CheckOut(const Identity& who, const VaultPathPolicy& vp,
                                        std::string_view path, int64_t version) {
  const int64_t now = clock_.Now();
  std::lock_guard rotating(rotating_mu_);
  if (rotating_.count(path))
    return absl::FailedPreconditionError(StrCat(
        path, " is being rotated: check it out again in a moment (the value being replaced would "
              "stop working in your hands)"));
  ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
  // A rotation target's value handed out must still be the newest: a rotation may have
  // finished since it was read (or since a dual-control request was made for it).
  if (policy_.rotation.TargetFor(path)) {
    ASSIGN_OR_RETURN(std::optional<SecretVersionRow> newest, store_.GetSecretVersion(path, 0));
    if (!newest || newest->version != version)
      return absl::FailedPreconditionError(StrCat(
        path, " has a newer version than the one being checked out (it was rotated meanwhile): "
              "ask for it again"));
  }
  ASSIGN_OR_RETURN(std::optional<CheckoutRow> held, store_.GetCheckout(path));
  if (held && held->until > now && held->holder != who.user)
    return absl::FailedPreconditionError(StrCat(path, " is checked out by ", held->holder,
                                                " until ", UtcText(held->until)));
  // The previous check-out ran out without a check-in: it was used all the same.
  if (held && held->until <= now) RETURN_IF_ERROR(EndCheckoutInTransaction(*held, "lease ended"));
  CheckoutRow c{std::string(path), who.user, version, now, now + vp.checkout_lease};
  RETURN_IF_ERROR(store_.PutCheckout(c));
  RETURN_IF_ERROR(tx.Commit());
  return c.until;
}

absl::Status Vault::BeginRotation(std::string_view path) {
  std::lock_guard rotating(rotating_mu_);
  ASSIGN_OR_RETURN(std::optional<CheckoutRow> held, store_.GetCheckout(path));
  if (held && held->until > clock_.Now())
    return absl::FailedPreconditionError(StrCat(path, " is checked out by ", held->holder, " until ",
                                                UtcText(held->until),
                                                "; it can be rotated once checked in"));
  rotating_.emplace(path);
  return absl::OkStatus();
}

bool Vault::IsRotating(std::string_view path) {
  std::lock_guard rotating(rotating_mu_);
  return rotating_.count(path) > 0;
}

void Vault::SetRotating(std::string_view path, bool on) {
  std::lock_guard rotating(rotating_mu_);
  auto it = rotating_.find(path);
  if (on && it == rotating_.end()) rotating_.emplace(path);
  if (!on && it != rotating_.end()) rotating_.erase(it);
}

absl::Status Vault::EndCheckoutInTransaction(const CheckoutRow& held, std::string_view why) {
  RETURN_IF_ERROR(store_.DeleteCheckout(held.path));
  const VaultPathPolicy* vp = policy_.VaultPathFor(held.path);
  if (vp && vp->rotate_after_use) {
    // The version is marked used: a rotation target is rotated by the next rotation pass
    // (controller/core/rotation.h); a path that is none cannot be, and needs a person.
    RETURN_IF_ERROR(store_.MarkSecretUsed(held.path, held.version, clock_.Now()));
    const bool target = policy_.rotation.TargetFor(held.path) != nullptr;
    nlohmann::json e = {{"event", target ? "vault.used" : "vault.rotate_needed"},
                        {"path", held.path}, {"version", held.version},
                        {"holder", held.holder}, {"why", std::string(why)}};
    if (!target) e["alert"] = true;
    RETURN_IF_ERROR(audit_.Append(std::move(e)).status());
  }
  return absl::OkStatus();
}

absl::Status Vault::CheckIn(const Identity& who, std::string_view path) {
  // Only someone who may read (so check out) `path` learns whether it is checked out.
  RETURN_IF_ERROR(Allowed(who, path, "read").status());
  RETURN_IF_ERROR(RequireUnsealed());
  ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
  ASSIGN_OR_RETURN(std::optional<CheckoutRow> held, store_.GetCheckout(path));
  if (!held || held->holder != who.user)
    return absl::FailedPreconditionError(StrCat(path, " is not checked out by ", who.user));
  RETURN_IF_ERROR(EndCheckoutInTransaction(*held, "checked in"));
  return tx.Commit();
}

absl::StatusOr<SecretRead> Vault::ReadForBroker(std::string_view holder, std::string_view path,
                                                int grant_approvals) {
  RETURN_IF_ERROR(RequireUnsealed());
  const VaultPathPolicy* vp = policy_.VaultPathFor(path);
  if (vp && vp->approvals > grant_approvals)
    return absl::PermissionDeniedError(StrCat(
        path, " needs ", vp->approvals, " approvals (its control group) and the grant had ",
        grant_approvals, ": the broker role must need at least as many"));
  ASSIGN_OR_RETURN(std::optional<SecretVersionRow> row, store_.GetSecretVersion(path, 0));
  if (!row || row->deleted || row->destroyed)
    return absl::NotFoundError(StrCat("no secret at ", path, ": vault the target's password first"));
  SecretRead out;
  out.version = row->version;
  ASSIGN_OR_RETURN(out.value, Decrypt(*row));
  if (vp && vp->checkout) {
    Identity who;
    who.user = std::string(holder);
    ASSIGN_OR_RETURN(out.checked_out_until, CheckOut(who, *vp, path, row->version));
  }
  return out;
}

absl::StatusOr<bool> Vault::CheckInForBroker(std::string_view holder, std::string_view path) {
  RETURN_IF_ERROR(RequireUnsealed());
  ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
  ASSIGN_OR_RETURN(std::optional<CheckoutRow> held, store_.GetCheckout(path));
  if (!held || held->holder != holder) return false;
  RETURN_IF_ERROR(EndCheckoutInTransaction(*held, "gateway session ended"));
  RETURN_IF_ERROR(tx.Commit());
  return true;
}

absl::StatusOr<int> Vault::EndExpiredCheckouts() {
  ASSIGN_OR_RETURN(std::vector<CheckoutRow> expired, store_.ListExpiredCheckouts(clock_.Now()));
  for (const CheckoutRow& c : expired) {
    ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
    RETURN_IF_ERROR(EndCheckoutInTransaction(c, "lease ended"));
    RETURN_IF_ERROR(tx.Commit());
  }
  return static_cast<int>(expired.size());
}

absl::StatusOr<std::vector<std::string>> Vault::List(const Identity& who, std::string_view prefix) {
  RETURN_IF_ERROR(RequireUnsealed());
  ASSIGN_OR_RETURN(std::vector<std::string> paths, store_.ListSecretPaths(prefix));
  std::erase_if(paths, [&](const std::string& p) { return !Allowed(who, p, "list").ok(); });
  return paths;
}

absl::StatusOr<std::vector<SecretVersionRow>> Vault::Metadata(const Identity& who,
                                                              std::string_view path) {
  if (!Allowed(who, path, "list").ok()) RETURN_IF_ERROR(Allowed(who, path, "read").status());
  RETURN_IF_ERROR(RequireUnsealed());
  ASSIGN_OR_RETURN(std::vector<SecretVersionRow> rows, store_.ListSecretVersions(path));
  if (rows.empty()) return absl::NotFoundError(StrCat("no secret at ", path));
  return rows;
}

absl::StatusOr<int> Vault::Delete(const Identity& who, std::string_view path,
                                  const std::vector<int64_t>& versions, bool destroy) {
  RETURN_IF_ERROR(Allowed(who, path, destroy ? "destroy" : "delete").status());
  RETURN_IF_ERROR(RequireUnsealed());
  std::vector<int64_t> which = versions;
  if (which.empty()) {
    if (destroy) return absl::InvalidArgumentError("destroy needs the versions to destroy (--versions)");
    ASSIGN_OR_RETURN(std::optional<SecretVersionRow> newest, store_.GetSecretVersion(path, 0));
    if (!newest) return absl::NotFoundError(StrCat("no secret at ", path));
    which.push_back(newest->version);
  }
  return store_.DeleteSecretVersions(path, which, clock_.Now(), destroy);
}

absl::StatusOr<WrapInfo> Vault::Info(const WrapRow& w) {
  WrapInfo i;
  i.accessor = w.accessor;
  i.path = w.path;
  i.requester = w.requester;
  i.version = w.version;
  i.created = w.created;
  i.expires = w.expires;
  i.approvals_required = w.approvals_required;
  i.unwrapped = w.unwrapped != 0;
  i.checkout = w.checkout;
  ASSIGN_OR_RETURN(i.approvals, store_.ListAuthorizations(w.accessor));
  return i;
}

absl::StatusOr<WrapInfo> Vault::LookupWrap(const Identity& who, std::string_view accessor) {
  ASSIGN_OR_RETURN(std::optional<WrapRow> w, store_.GetWrap(accessor));
  if (!w) return absl::NotFoundError(StrCat("no request with accessor ", accessor));
  const auto groups = nlohmann::json::parse(w->approver_groups).get<std::vector<std::string>>();
  if (who.user != w->requester && !policy_.InAnyGroup(who.user, groups) && !policy_.IsAdmin(who.user))
    return absl::PermissionDeniedError(StrCat(who.user, " may not see request ", accessor));
  return Info(*w);
}

absl::StatusOr<WrapInfo> Vault::Authorize(const Identity& who, std::string_view accessor,
                                          std::string_view reason) {
  RETURN_IF_ERROR(RequireUnsealed());
  if (StripSpaces(reason).empty() || reason.size() > 512)
    return absl::InvalidArgumentError("an authorization needs a reason (--reason, up to 512 bytes)");
  ASSIGN_OR_RETURN(std::optional<WrapRow> w, store_.GetWrap(accessor));
  if (!w) return absl::NotFoundError(StrCat("no request with accessor ", accessor));
  if (who.user == w->requester)
    return absl::PermissionDeniedError(StrCat(who.user, " may not authorize their own request"));
  const auto groups = nlohmann::json::parse(w->approver_groups).get<std::vector<std::string>>();
  if (!who.host_id.empty() || !policy_.InAnyGroup(who.user, groups))
    return absl::PermissionDeniedError(StrCat(who.user, " is not in the control group of ", w->path,
                                              " (", StrJoin(groups, ", "), ")"));
  // The request's state only to someone who may authorize it.
  const int64_t now = clock_.Now();
  if (w->unwrapped) return absl::FailedPreconditionError(StrCat("request ", accessor, " was already unwrapped"));
  if (now >= w->expires)
    return absl::FailedPreconditionError(StrCat("request ", accessor, " expired at ", UtcText(w->expires)));
  ASSIGN_OR_RETURN(bool added, store_.AddAuthorization(accessor, who.user, reason, now));
  if (!added)
    return absl::AlreadyExistsError(
        StrCat(who.user, " has already authorized ", accessor, "; one person counts once"));
  return Info(*w);
}

absl::StatusOr<SecretRead> Vault::Unwrap(const Identity& who, std::string_view token) {
  RETURN_IF_ERROR(RequireUnsealed());
  ASSIGN_OR_RETURN(std::optional<WrapRow> w, store_.GetWrapByToken(Sha256(AsBytes(token))));
  if (!w) return absl::NotFoundError("unknown wrapping token");
  if (w->requester != who.user)
    return absl::PermissionDeniedError(
        StrCat("this wrapping token was issued to ", w->requester, ", not ", who.user));
  if (w->unwrapped)
    return absl::FailedPreconditionError(
        StrCat("this wrapping token was already unwrapped at ", UtcText(w->unwrapped)));
  const int64_t now = clock_.Now();
  if (now >= w->expires)
    return absl::FailedPreconditionError(
        StrCat("this wrapping token expired at ", UtcText(w->expires), " unused"));
  ASSIGN_OR_RETURN(WrapInfo info, Info(*w));
  if (static_cast<int>(info.approvals.size()) < w->approvals_required)
    return absl::FailedPreconditionError(
        StrCat(info.approvals.size(), " of ", w->approvals_required,
               " authorizations so far; approvers run: wardenctl vault authorize ", w->accessor,
               " --reason ..."));
  ASSIGN_OR_RETURN(std::optional<SecretVersionRow> row, store_.GetSecretVersion(w->path, w->version));
  if (!row || row->deleted || row->destroyed)
    return absl::NotFoundError(StrCat("version ", w->version, " of ", w->path, " is gone"));
  SecretRead out;
  out.version = row->version;
  ASSIGN_OR_RETURN(out.value, Decrypt(*row));
  const VaultPathPolicy* vp = policy_.VaultPathFor(w->path);
  if (w->checkout && vp) {
    ASSIGN_OR_RETURN(out.checked_out_until, CheckOut(who, *vp, w->path, row->version));
  }
  ASSIGN_OR_RETURN(bool first, store_.UseWrap(w->accessor, now));
  if (!first) return absl::FailedPreconditionError("this wrapping token was already unwrapped");
  info.unwrapped = true;
  out.wrap = std::move(info);
  return out;
}

}  // namespace warden
