// InventoryStore's tables: host_inventory, host_logins.
#include "controller/store/sqlite/database.h"
#include "controller/store/sqlite/sqlite_store.h"

namespace warden {

using sqlite::Stmt;

absl::Status SqliteStore::PutInventory(const InventoryRow& r) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO host_inventory (host_id,reported,inventory) "
                                        "VALUES (?,?,?) ON CONFLICT(host_id) DO UPDATE SET "
                                        "reported=excluded.reported, inventory=excluded.inventory"));
  return s.Bind(1, r.host_id).Bind(2, r.reported).Bind(3, r.inventory).Run();
}

absl::StatusOr<std::optional<InventoryRow>> SqliteStore::GetInventory(std::string_view host_id) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT host_id,reported,inventory FROM host_inventory "
                                        "WHERE host_id=?"));
  return s.Bind(1, host_id).ReadOne([](Stmt& s) {
    return InventoryRow{s.Text(0), s.Int(1), s.Text(2)};
  });
}

absl::StatusOr<std::vector<InventoryRow>> SqliteStore::ListInventories() {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT host_id,reported,inventory FROM host_inventory "
                                        "ORDER BY host_id"));
  return s.ReadAll([](Stmt& s) { return InventoryRow{s.Text(0), s.Int(1), s.Text(2)}; });
}

absl::StatusOr<bool> SqliteStore::InsertHostLogin(const HostLoginRow& l) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT OR IGNORE INTO host_logins (host_id,key,user,line,"
                                        "rhost,kind,at_us,pid,received) VALUES (?,?,?,?,?,?,?,?,?)"));
  RETURN_IF_ERROR(s.Bind(1, l.host_id).Bind(2, l.key).Bind(3, l.user).Bind(4, l.line)
                      .Bind(5, l.from).Bind(6, l.kind).Bind(7, l.at_us)
                      .Bind(8, static_cast<int64_t>(l.pid)).Bind(9, l.received).Run());
  return db_->Changes() == 1;
}

absl::StatusOr<std::vector<HostLoginCount>> SqliteStore::CountHostLogins(int64_t since_us) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT host_id,kind,count(*) FROM host_logins WHERE at_us>=? "
                                        "GROUP BY host_id,kind ORDER BY host_id,kind"));
  return s.Bind(1, since_us).ReadAll([](Stmt& s) {
    return HostLoginCount{s.Text(0), s.Text(1), static_cast<uint64_t>(s.Int(2))};
  });
}

}  // namespace warden
