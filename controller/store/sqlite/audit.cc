// AuditStore's table: audit_anchor, one row.
#include "controller/store/sqlite/database.h"
#include "controller/store/sqlite/sqlite_store.h"

namespace warden {

using sqlite::Stmt;

absl::Status SqliteStore::PutAuditAnchor(const AuditAnchorRow& r) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT OR REPLACE INTO audit_anchor VALUES (1,?,?,?)"));
  return s.Bind(1, static_cast<int64_t>(r.seq)).Bind(2, r.hash).BindBlob(3, r.signature).Run();
}

absl::StatusOr<std::optional<AuditAnchorRow>> SqliteStore::GetAuditAnchor() {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT seq,hash,signature FROM audit_anchor WHERE id=1"));
  return s.ReadOne([](Stmt& s) {
    return AuditAnchorRow{static_cast<uint64_t>(s.Int(0)), s.Text(1), s.Blob(2)};
  });
}

}  // namespace warden
