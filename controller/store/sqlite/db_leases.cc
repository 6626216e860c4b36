// DbLeaseStore's table: db_leases.
#include "common/strings.h"
#include "controller/store/sqlite/database.h"
#include "controller/store/sqlite/sqlite_store.h"

namespace warden {

using sqlite::Stmt;

namespace {

constexpr const char* kLeaseCols =
    "id,role,connection,username,owner,created,expires,max_expires,revoked,attempts,"
    "next_attempt,last_error";

DbLeaseRow ReadLease(Stmt& s) {
  return DbLeaseRow{s.Text(0), s.Text(1), s.Text(2), s.Text(3),
                    s.Text(4), s.Int(5),  s.Int(6),  s.Int(7),
                    s.Int(8),  static_cast<int>(s.Int(9)), s.Int(10), s.Text(11)};
}

// NOT_FOUND unless the last statement changed a row.
absl::Status OneChanged(sqlite::Database& db, std::string_view id) {
  if (db.Changes() != 1) return absl::NotFoundError(StrCat("no lease \"", id, "\""));
  return absl::OkStatus();
}

}  // namespace

absl::Status SqliteStore::InsertDbLease(const DbLeaseRow& r) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("INSERT INTO db_leases (", kLeaseCols,
                                               ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
                                            .c_str()));
  return s.Bind(1, r.id).Bind(2, r.role).Bind(3, r.connection).Bind(4, r.username)
      .Bind(5, r.owner).Bind(6, r.created).Bind(7, r.expires).Bind(8, r.max_expires)
      .Bind(9, r.revoked).Bind(10, int64_t{r.attempts}).Bind(11, r.next_attempt)
      .Bind(12, r.last_error).Run();
}

absl::StatusOr<std::optional<DbLeaseRow>> SqliteStore::GetDbLease(std::string_view id) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("SELECT ", kLeaseCols, " FROM db_leases WHERE id=?").c_str()));
  return s.Bind(1, id).ReadOne(ReadLease);
}

absl::Status SqliteStore::SetDbLeaseExpiry(std::string_view id, int64_t expires,
                                           std::optional<int64_t> only_if_expires) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE db_leases SET expires=?1 WHERE id=?2 AND revoked=0 "
                                        "AND (?3 IS NULL OR expires=?3)"));
  s.Bind(1, expires).Bind(2, id);
  if (only_if_expires) s.Bind(3, *only_if_expires);
  RETURN_IF_ERROR(s.Run());
  if (db_->Changes() == 1) return absl::OkStatus();
  if (only_if_expires)
    return absl::AbortedError(StrCat("lease ", id, " changed meanwhile (revoked?); nothing renewed"));
  return absl::NotFoundError(StrCat("no lease \"", id, "\""));
}

absl::StatusOr<std::vector<DbLeaseRow>> SqliteStore::ListLiveDbLeases(std::string_view id_prefix,
                                                                      std::string_view owner) {
  auto lock = db_->Lock();
  // substr, not LIKE: a prefix holding % or _ means itself.
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("SELECT ", kLeaseCols,
                                               " FROM db_leases WHERE revoked=0 AND "
                                               "substr(id,1,length(?1))=?1 AND (?2='' OR owner=?2) "
                                               "ORDER BY created, id")
                                            .c_str()));
  return s.Bind(1, id_prefix).Bind(2, owner).ReadAll(ReadLease);
}

absl::StatusOr<std::vector<DbLeaseRow>> SqliteStore::ListDueDbLeases(int64_t now, int limit) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("SELECT ", kLeaseCols,
                                               " FROM db_leases WHERE revoked=0 AND expires<=?1 "
                                               "AND next_attempt<=?1 ORDER BY expires LIMIT ?2")
                                            .c_str()));
  return s.Bind(1, now).Bind(2, int64_t{limit}).ReadAll(ReadLease);
}

absl::Status SqliteStore::MarkDbLeaseRevoked(std::string_view id, int64_t at) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE db_leases SET revoked=?, last_error='' "
                                        "WHERE id=? AND revoked=0"));
  RETURN_IF_ERROR(s.Bind(1, at).Bind(2, id).Run());
  return OneChanged(*db_, id);
}

absl::Status SqliteStore::NoteDbLeaseFailure(std::string_view id, int attempts,
                                             int64_t next_attempt, std::string_view error) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE db_leases SET attempts=?, next_attempt=?, "
                                        "last_error=? WHERE id=? AND revoked=0"));
  RETURN_IF_ERROR(
      s.Bind(1, int64_t{attempts}).Bind(2, next_attempt).Bind(3, error).Bind(4, id).Run());
  return OneChanged(*db_, id);
}

}  // namespace warden
