// VaultStore's tables: vault_seal, vault_versions, vault_wraps, vault_authorizations,
// vault_checkouts.
#include "common/strings.h"
#include "controller/store/sqlite/database.h"
#include "controller/store/sqlite/sqlite_store.h"

namespace warden {

using sqlite::Stmt;

namespace {

constexpr const char* kVersionCols =
    "path,version,created,created_by,deleted,destroyed,used,wrapped_key,ciphertext";

SecretVersionRow ReadVersion(Stmt& s) {
  return SecretVersionRow{s.Text(0), s.Int(1), s.Int(2), s.Text(3), s.Int(4),
                          s.Int(5),  s.Int(6), s.Blob(7), s.Blob(8)};
}

constexpr const char* kWrapCols =
    "accessor,token_hash,path,version,requester,created,expires,approvals_required,"
    "approver_groups,unwrapped,checkout";

WrapRow ReadWrap(Stmt& s) {
  return WrapRow{s.Text(0), s.Blob(1), s.Text(2), s.Int(3), s.Text(4), s.Int(5),
                 s.Int(6),  static_cast<int>(s.Int(7)), s.Text(8), s.Int(9), s.Int(10) != 0};
}

constexpr const char* kCheckoutCols = "path,holder,version,since,until";

CheckoutRow ReadCheckout(Stmt& s) {
  return CheckoutRow{s.Text(0), s.Text(1), s.Int(2), s.Int(3), s.Int(4)};
}

}  // namespace

absl::Status SqliteStore::PutVaultSeal(const VaultSealRow& r) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s,
                   db_->Prepare("INSERT OR REPLACE INTO vault_seal VALUES (1,?,?,?,?,?,?)"));
  return s.Bind(1, r.mode).Bind(2, int64_t{r.set_id}).Bind(3, r.shares).Bind(4, r.threshold)
      .BindBlob(5, r.wrapped_root).BindBlob(6, r.check).Run();
}

absl::StatusOr<std::optional<VaultSealRow>> SqliteStore::GetVaultSeal() {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT mode,set_id,shares,threshold,wrapped_root,"
                                        "check_blob FROM vault_seal WHERE id=1"));
  return s.ReadOne([](Stmt& s) {
    return VaultSealRow{s.Text(0), static_cast<uint32_t>(s.Int(1)), static_cast<int>(s.Int(2)),
                        static_cast<int>(s.Int(3)), s.Blob(4), s.Blob(5)};
  });
}

absl::StatusOr<int64_t> SqliteStore::NextSecretVersion(std::string_view path) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT COALESCE(MAX(version),0)+1 FROM vault_versions "
                                        "WHERE path=?"));
  ASSIGN_OR_RETURN(bool row, s.Bind(1, path).Step());
  if (!row) return absl::InternalError("no version row");
  return s.Int(0);
}

absl::Status SqliteStore::InsertSecretVersion(const SecretVersionRow& r) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO vault_versions VALUES (?,?,?,?,?,?,?,?,?)"));
  return s.Bind(1, r.path).Bind(2, r.version).Bind(3, r.created).Bind(4, r.created_by)
      .Bind(5, r.deleted).Bind(6, r.destroyed).Bind(7, r.used).BindBlob(8, r.wrapped_key)
      .BindBlob(9, r.ciphertext).Run();
}

absl::StatusOr<std::optional<SecretVersionRow>> SqliteStore::GetSecretVersion(
    std::string_view path, int64_t version) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("SELECT ", kVersionCols,
                                               " FROM vault_versions WHERE path=?1 AND "
                                               "(?2=0 OR version=?2) ORDER BY version DESC "
                                               "LIMIT 1").c_str()));
  return s.Bind(1, path).Bind(2, version).ReadOne(ReadVersion);
}

absl::StatusOr<std::vector<SecretVersionRow>> SqliteStore::ListSecretVersions(
    std::string_view path) {
  auto lock = db_->Lock();
  // The blobs left out (read as empty): a listing never needs them.
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT path,version,created,created_by,deleted,"
                                        "destroyed,used,x'',x'' FROM vault_versions "
                                        "WHERE path=? ORDER BY version"));
  return s.Bind(1, path).ReadAll(ReadVersion);
}

absl::StatusOr<std::vector<std::string>> SqliteStore::ListSecretPaths(std::string_view prefix) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT DISTINCT path FROM vault_versions "
                                        "WHERE substr(path,1,length(?1))=?1 ORDER BY path"));
  return s.Bind(1, prefix).ReadAll([](Stmt& s) { return s.Text(0); });
}

absl::StatusOr<int> SqliteStore::DeleteSecretVersions(std::string_view path,
                                                      const std::vector<int64_t>& versions,
                                                      int64_t at, bool destroy) {
  ASSIGN_OR_RETURN(Transaction tx, Begin());
  int changed = 0;
  for (int64_t v : versions) {
    ASSIGN_OR_RETURN(
        Stmt s, db_->Prepare(destroy ? "UPDATE vault_versions SET destroyed=?1, wrapped_key=x'', "
                                       "ciphertext=x'' WHERE path=?2 AND version=?3 AND "
                                       "destroyed=0"
                                     : "UPDATE vault_versions SET deleted=?1 WHERE path=?2 AND "
                                       "version=?3 AND deleted=0 AND destroyed=0"));
    RETURN_IF_ERROR(s.Bind(1, at).Bind(2, path).Bind(3, v).Run());
    changed += db_->Changes();
  }
  RETURN_IF_ERROR(tx.Commit());
  return changed;
}

absl::Status SqliteStore::MarkSecretUsed(std::string_view path, int64_t version, int64_t at) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE vault_versions SET used=? WHERE path=? AND "
                                        "version=?"));
  return s.Bind(1, at).Bind(2, path).Bind(3, version).Run();
}

absl::Status SqliteStore::InsertWrap(const WrapRow& w) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("INSERT INTO vault_wraps (", kWrapCols,
                                               ") VALUES (?,?,?,?,?,?,?,?,?,?,?)").c_str()));
  return s.Bind(1, w.accessor).BindBlob(2, w.token_hash).Bind(3, w.path).Bind(4, w.version)
      .Bind(5, w.requester).Bind(6, w.created).Bind(7, w.expires).Bind(8, w.approvals_required)
      .Bind(9, w.approver_groups).Bind(10, w.unwrapped).Bind(11, int64_t{w.checkout}).Run();
}

absl::StatusOr<std::optional<WrapRow>> SqliteStore::GetWrap(std::string_view accessor) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("SELECT ", kWrapCols,
                                               " FROM vault_wraps WHERE accessor=?").c_str()));
  return s.Bind(1, accessor).ReadOne(ReadWrap);
}

absl::StatusOr<std::optional<WrapRow>> SqliteStore::GetWrapByToken(ByteSpan token_hash) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("SELECT ", kWrapCols,
                                               " FROM vault_wraps WHERE token_hash=?").c_str()));
  return s.BindBlob(1, token_hash).ReadOne(ReadWrap);
}

absl::StatusOr<bool> SqliteStore::AddAuthorization(std::string_view accessor,
                                                   std::string_view approver,
                                                   std::string_view reason, int64_t at) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s,
                   db_->Prepare("INSERT OR IGNORE INTO vault_authorizations VALUES (?,?,?,?)"));
  RETURN_IF_ERROR(s.Bind(1, accessor).Bind(2, approver).Bind(3, reason).Bind(4, at).Run());
  return db_->Changes() == 1;
}

absl::StatusOr<std::vector<ApprovalRow>> SqliteStore::ListAuthorizations(
    std::string_view accessor) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT approver,at,reason FROM vault_authorizations "
                                        "WHERE accessor=? ORDER BY at, approver"));
  return s.Bind(1, accessor).ReadAll([](Stmt& s) {
    return ApprovalRow{s.Text(0), s.Int(1), s.Text(2)};
  });
}

absl::StatusOr<bool> SqliteStore::UseWrap(std::string_view accessor, int64_t at) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE vault_wraps SET unwrapped=? WHERE accessor=? "
                                        "AND unwrapped=0"));
  RETURN_IF_ERROR(s.Bind(1, at).Bind(2, accessor).Run());
  return db_->Changes() == 1;
}

absl::StatusOr<std::optional<CheckoutRow>> SqliteStore::GetCheckout(std::string_view path) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("SELECT ", kCheckoutCols,
                                               " FROM vault_checkouts WHERE path=?").c_str()));
  return s.Bind(1, path).ReadOne(ReadCheckout);
}

absl::Status SqliteStore::PutCheckout(const CheckoutRow& c) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s,
                   db_->Prepare("INSERT OR REPLACE INTO vault_checkouts VALUES (?,?,?,?,?)"));
  return s.Bind(1, c.path).Bind(2, c.holder).Bind(3, c.version).Bind(4, c.since)
      .Bind(5, c.until).Run();
}

absl::Status SqliteStore::DeleteCheckout(std::string_view path) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("DELETE FROM vault_checkouts WHERE path=?"));
  return s.Bind(1, path).Run();
}

absl::StatusOr<std::vector<CheckoutRow>> SqliteStore::ListExpiredCheckouts(int64_t now) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("SELECT ", kCheckoutCols,
                                               " FROM vault_checkouts WHERE until<=? "
                                               "ORDER BY until").c_str()));
  return s.Bind(1, now).ReadAll(ReadCheckout);
}

}  // namespace warden
