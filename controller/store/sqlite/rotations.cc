// RotationStore's table: rotations.
#include "common/strings.h"
#include "controller/store/sqlite/database.h"
#include "controller/store/sqlite/sqlite_store.h"

namespace warden {

using sqlite::Stmt;

namespace {

constexpr const char* kRotationCols =
    "path,status,drifted_since,last_rotated,next_rotation,last_reconciled,next_reconcile,"
    "failures,next_attempt,last_error,pending_since,pending_by,pending_why,pending_key,"
    "pending_value";

RotationRow ReadRotation(Stmt& s) {
  return RotationRow{s.Text(0),  s.Text(1),  s.Int(2),  s.Int(3),
                     s.Int(4),   s.Int(5),   s.Int(6),  static_cast<int>(s.Int(7)),
                     s.Int(8),   s.Text(9),  s.Int(10), s.Text(11),
                     s.Text(12), s.Blob(13), s.Blob(14)};
}

}  // namespace

absl::StatusOr<std::optional<RotationRow>> SqliteStore::GetRotation(std::string_view path) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("SELECT ", kRotationCols,
                                               " FROM rotations WHERE path=?").c_str()));
  return s.Bind(1, path).ReadOne(ReadRotation);
}

absl::Status SqliteStore::PutRotation(const RotationRow& r) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("INSERT OR REPLACE INTO rotations (", kRotationCols,
                                               ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
                                            .c_str()));
  return s.Bind(1, r.path).Bind(2, r.status).Bind(3, r.drifted_since).Bind(4, r.last_rotated)
      .Bind(5, r.next_rotation).Bind(6, r.last_reconciled).Bind(7, r.next_reconcile)
      .Bind(8, int64_t{r.failures}).Bind(9, r.next_attempt).Bind(10, r.last_error)
      .Bind(11, r.pending_since).Bind(12, r.pending_by).Bind(13, r.pending_why)
      .BindBlob(14, r.pending_key).BindBlob(15, r.pending_value).Run();
}

absl::StatusOr<std::vector<RotationRow>> SqliteStore::ListRotations() {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(
                               "SELECT path,status,drifted_since,last_rotated,next_rotation,"
                               "last_reconciled,next_reconcile,failures,next_attempt,last_error,"
                               "pending_since,pending_by,pending_why,x'',x'' FROM rotations "
                               "ORDER BY path"));
  return s.ReadAll(ReadRotation);
}

}  // namespace warden
