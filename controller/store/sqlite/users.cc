// UserStore's table: users.
#include "common/strings.h"
#include "controller/store/sqlite/database.h"
#include "controller/store/sqlite/sqlite_store.h"

namespace warden {

using sqlite::Stmt;

absl::Status SqliteStore::InsertUser(const UserRow& u) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO users VALUES (?,?,?,?)"));
  absl::Status st = s.Bind(1, u.name).Bind(2, u.password_hash).Bind(3, u.totp_secret)
                        .Bind(4, static_cast<int64_t>(u.totp_last_step)).Run();
  if (absl::IsAlreadyExists(st)) {
    return absl::AlreadyExistsError(StrCat("user \"", u.name, "\" already exists"));
  }
  return st;
}

absl::StatusOr<std::optional<UserRow>> SqliteStore::GetUser(std::string_view name) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT name,password_hash,totp_secret,totp_last_step "
                                        "FROM users WHERE name=?"));
  return s.Bind(1, name).ReadOne([](Stmt& s) {
    return UserRow{s.Text(0), s.Text(1), s.Text(2), static_cast<uint64_t>(s.Int(3))};
  });
}

absl::StatusOr<bool> SqliteStore::UseTotpStep(std::string_view name, uint64_t step) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE users SET totp_last_step=?1 "
                                        "WHERE name=?2 AND totp_last_step<?1"));
  RETURN_IF_ERROR(s.Bind(1, static_cast<int64_t>(step)).Bind(2, name).Run());
  return db_->Changes() == 1;
}

}  // namespace warden
