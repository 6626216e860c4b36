// AccessStore's tables: requests, approvals, grants, certs, ca_keys, account_groups, counters.
#include "common/strings.h"
#include "controller/store/sqlite/database.h"
#include "controller/store/sqlite/sqlite_store.h"

namespace warden {

using sqlite::Stmt;

namespace {

constexpr const char* kRequestCols =
    "id,requester,role,reason,ttl,state,created,expires,grant_id,decided_by,note";

RequestRow ReadRequest(Stmt& s) {
  return RequestRow{s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4), s.Text(5),
                    s.Int(6),  s.Int(7),  s.Text(8), s.Text(9), s.Text(10)};
}

constexpr const char* kGrantCols =
    "id,request_id,user,role,login,tier,start,end_,revoked_at,revoked_by,uid";

GrantRow ReadGrant(Stmt& s) {
  return GrantRow{s.Text(0), s.Text(1), s.Text(2), s.Text(3),
                  s.Text(4), static_cast<int>(s.Int(5)), s.Int(6), s.Int(7), s.Int(8), s.Text(9),
                  static_cast<uint32_t>(s.Int(10))};
}

}  // namespace

absl::Status SqliteStore::InsertRequest(const RequestRow& r) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO requests VALUES (?,?,?,?,?,?,?,?,?,?,?)"));
  return s.Bind(1, r.id).Bind(2, r.requester).Bind(3, r.role).Bind(4, r.reason).Bind(5, r.ttl)
      .Bind(6, r.state).Bind(7, r.created).Bind(8, r.expires).Bind(9, r.grant_id)
      .Bind(10, r.decided_by).Bind(11, r.note).Run();
}

absl::StatusOr<std::optional<RequestRow>> SqliteStore::GetRequest(std::string_view id) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("SELECT ", kRequestCols,
                                               " FROM requests WHERE id=?").c_str()));
  return s.Bind(1, id).ReadOne(ReadRequest);
}

absl::StatusOr<std::vector<RequestRow>> SqliteStore::ListRequests(bool pending_only) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("SELECT ", kRequestCols, " FROM requests ",
                                               pending_only ? "WHERE state='pending' " : "",
                                               "ORDER BY created, id").c_str()));
  return s.ReadAll(ReadRequest);
}

absl::Status SqliteStore::UpdateRequest(const RequestRow& r) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE requests SET state=?,grant_id=?,decided_by=?,"
                                        "note=? WHERE id=?"));
  return s.Bind(1, r.state).Bind(2, r.grant_id).Bind(3, r.decided_by).Bind(4, r.note)
      .Bind(5, r.id).Run();
}

absl::StatusOr<bool> SqliteStore::AddApproval(std::string_view request_id,
                                              std::string_view approver, int64_t at) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT OR IGNORE INTO approvals VALUES (?,?,?)"));
  RETURN_IF_ERROR(s.Bind(1, request_id).Bind(2, approver).Bind(3, at).Run());
  return db_->Changes() == 1;
}

absl::StatusOr<std::vector<ApprovalRow>> SqliteStore::ListApprovals(std::string_view request_id) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT approver,at FROM approvals WHERE request_id=? "
                                        "ORDER BY at, approver"));
  return s.Bind(1, request_id).ReadAll([](Stmt& s) {
    return ApprovalRow{s.Text(0), s.Int(1), ""};
  });
}

absl::Status SqliteStore::InsertGrant(const GrantRow& g) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO grants VALUES (?,?,?,?,?,?,?,?,?,?,?)"));
  return s.Bind(1, g.id).Bind(2, g.request_id).Bind(3, g.user).Bind(4, g.role).Bind(5, g.login)
      .Bind(6, g.tier).Bind(7, g.start).Bind(8, g.end).Bind(9, g.revoked_at)
      .Bind(10, g.revoked_by).Bind(11, static_cast<int64_t>(g.uid)).Run();
}

absl::StatusOr<std::optional<GrantRow>> SqliteStore::GetGrant(std::string_view id) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("SELECT ", kGrantCols,
                                               " FROM grants WHERE id=?").c_str()));
  return s.Bind(1, id).ReadOne(ReadGrant);
}

absl::StatusOr<std::vector<GrantRow>> SqliteStore::ListGrants() {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("SELECT ", kGrantCols,
                                               " FROM grants ORDER BY start, id").c_str()));
  return s.ReadAll(ReadGrant);
}

absl::StatusOr<std::vector<GrantRow>> SqliteStore::ListLiveGrants(int64_t now) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("SELECT ", kGrantCols,
                                               " FROM grants WHERE revoked_at=0 AND end_>? "
                                               "ORDER BY login").c_str()));
  return s.Bind(1, now).ReadAll(ReadGrant);
}

absl::StatusOr<bool> SqliteStore::LoginInUse(std::string_view login) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT 1 FROM grants WHERE login=?"));
  return s.Bind(1, login).Step();
}

absl::Status SqliteStore::RevokeGrant(std::string_view id, int64_t at, std::string_view by) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE grants SET revoked_at=?, revoked_by=? WHERE id=?"));
  return s.Bind(1, at).Bind(2, by).Bind(3, id).Run();
}

absl::Status SqliteStore::InsertCert(const CertRow& c) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO certs VALUES (?,?,?,?,?,?,?)"));
  return s.Bind(1, static_cast<int64_t>(c.serial)).Bind(2, c.key_id).Bind(3, c.fingerprint)
      .Bind(4, c.grant_id).BindBlob(5, c.ca_key).Bind(6, c.valid_after).Bind(7, c.valid_before)
      .Run();
}

absl::StatusOr<int> SqliteStore::CountCerts(std::string_view grant_id) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT count(*) FROM certs WHERE grant_id=?"));
  RETURN_IF_ERROR(s.Bind(1, grant_id).Step().status());
  return static_cast<int>(s.Int(0));
}

absl::StatusOr<std::vector<CertRow>> SqliteStore::ListRevokedLiveCerts(int64_t now) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(
      "SELECT c.serial,c.key_id,c.fingerprint,c.grant_id,c.ca_key,c.valid_after,c.valid_before "
      "FROM certs c JOIN grants g ON g.id=c.grant_id "
      "WHERE g.revoked_at>0 AND c.valid_before>? ORDER BY c.serial"));
  return s.Bind(1, now).ReadAll([](Stmt& s) {
    return CertRow{static_cast<uint64_t>(s.Int(0)), s.Text(1), s.Text(2), s.Text(3), s.Blob(4),
                   s.Int(5), s.Int(6)};
  });
}

absl::Status SqliteStore::InsertCaKey(const CaKeyRow& k) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO ca_keys VALUES (?,?,?,?,?,?)"));
  return s.Bind(1, k.label).Bind(2, k.purpose).Bind(3, k.tier).BindBlob(4, k.public_key)
      .Bind(5, k.state).Bind(6, k.created).Run();
}

absl::StatusOr<std::vector<CaKeyRow>> SqliteStore::ListCaKeys(std::string_view purpose, int tier) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT purpose,tier,label,public_key,state,created "
                                        "FROM ca_keys WHERE purpose=? AND tier=? "
                                        "ORDER BY created, label"));
  return s.Bind(1, purpose).Bind(2, tier).ReadAll([](Stmt& s) {
    return CaKeyRow{s.Text(0), static_cast<int>(s.Int(1)), s.Text(2), s.Blob(3), s.Text(4),
                    s.Int(5)};
  });
}

absl::Status SqliteStore::SetCaKeyState(std::string_view label, std::string_view state) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE ca_keys SET state=? WHERE label=?"));
  return s.Bind(1, state).Bind(2, label).Run();
}

absl::StatusOr<uint32_t> SqliteStore::GroupGid(
    std::string_view name, const std::function<absl::StatusOr<uint32_t>()>& next_id) {
  auto lock = db_->Lock();
  {
    ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT gid FROM account_groups WHERE name=?"));
    s.Bind(1, name);
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) return static_cast<uint32_t>(s.Int(0));
  }
  ASSIGN_OR_RETURN(uint32_t gid, next_id());
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO account_groups VALUES (?,?)"));
  RETURN_IF_ERROR(s.Bind(1, name).Bind(2, static_cast<int64_t>(gid)).Run());
  return gid;
}

absl::StatusOr<int64_t> SqliteStore::GetCounter(std::string_view name) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT value FROM counters WHERE name=?"));
  ASSIGN_OR_RETURN(bool row, s.Bind(1, name).Step());
  return row ? s.Int(0) : 0;
}

absl::StatusOr<int64_t> SqliteStore::BumpCounter(std::string_view name) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO counters VALUES (?,1) "
                                        "ON CONFLICT(name) DO UPDATE SET value=value+1"));
  RETURN_IF_ERROR(s.Bind(1, name).Run());
  return GetCounter(name);
}

}  // namespace warden
