// The schema's history. The database's version is PRAGMA user_version: the number of migrations
// applied to it. A database made before versions existed reads 0.
//
// To change the schema, append a migration to the list in migrations.cc: it takes the schema from
// the previous version to its own, runs inside the transaction that applies it, and is never
// edited or reordered once released (a database in the field may be at any version). A
// controller refuses a database newer than its list; it upgrades an older one at Open.
#pragma once

#include <span>
#include <string_view>

#include "common/status.h"
#include "controller/store/sqlite/database.h"

namespace warden::sqlite {

struct Migration {
  std::string_view what;                // for the error when it fails
  absl::Status (*apply)(Database& db);  // REQUIRES: inside a write transaction
};

// Every migration of this program; migration i (from 0) takes version i to i + 1.
std::span<const Migration> Migrations();

// The database's version. Fails with FAILED_PRECONDITION, changing nothing, when it is newer
// than `migrations` know: an older program must not write a schema it does not understand.
absl::StatusOr<int> CheckSchemaVersion(Database& db, std::span<const Migration> migrations);

// Applies the migrations the database lacks, in order, in one write transaction that also sets
// its version; if one fails, the database stays as it was (at its old version).
absl::Status Migrate(Database& db, std::span<const Migration> migrations);

}  // namespace warden::sqlite
