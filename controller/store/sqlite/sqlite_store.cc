#include "controller/store/sqlite/sqlite_store.h"

#include <filesystem>

#include "common/strings.h"
#include "controller/store/sqlite/database.h"
#include "controller/store/sqlite/migrations.h"

namespace warden {

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Database> db, sqlite::Database::Open(path));
  // Before anything writes to the file (switching to WAL does): a newer schema stays untouched.
  RETURN_IF_ERROR(sqlite::CheckSchemaVersion(*db, sqlite::Migrations()).status());
  RETURN_IF_ERROR(db->Configure());
  RETURN_IF_ERROR(sqlite::Migrate(*db, sqlite::Migrations()));
  RETURN_IF_ERROR(db->StartCheckpointer());
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(db)));
}

absl::StatusOr<SqliteStore::SchemaUpgrade> SqliteStore::Upgrade(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(StrCat(path, " does not exist: run warden-controller init first"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Database> db, sqlite::Database::Open(path));
  SchemaUpgrade u;
  ASSIGN_OR_RETURN(u.from, sqlite::CheckSchemaVersion(*db, sqlite::Migrations()));
  u.to = static_cast<int>(sqlite::Migrations().size());
  if (u.from == u.to) return u;
  RETURN_IF_ERROR(db->Configure());
  const std::string backup = StrCat(path, ".pre-v", u.from);
  if (!std::filesystem::exists(backup, ec)) {
    ASSIGN_OR_RETURN(sqlite::Stmt s, db->Prepare("VACUUM INTO ?"));
    if (absl::Status st = s.Bind(1, backup).Run(); !st.ok()) {
      return absl::Status(st.code(), StrCat("cannot back up ", path, " to ", backup,
                                            " before migrating, nothing changed: ", st.message()));
    }
  }
  u.backup = backup;
  RETURN_IF_ERROR(sqlite::Migrate(*db, sqlite::Migrations()));
  return u;
}

SqliteStore::SqliteStore(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}
SqliteStore::~SqliteStore() = default;

absl::StatusOr<Transaction> SqliteStore::Begin() { return db_->Begin(); }
absl::StatusOr<Transaction> SqliteStore::BeginRead() { return db_->BeginRead(); }

}  // namespace warden
