#include "controller/store/sqlite/sqlite_store.h"

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

SqliteStore::SqliteStore(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}
SqliteStore::~SqliteStore() = default;

absl::StatusOr<Transaction> SqliteStore::Begin() { return db_->Begin(); }
absl::StatusOr<Transaction> SqliteStore::BeginRead() { return db_->BeginRead(); }

}  // namespace warden
