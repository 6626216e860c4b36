// Schema versions: a database made before them upgrades in place, a newer one is refused
// untouched, a fresh one starts at the current version, a failed migration changes nothing.
#include "controller/store/sqlite/migrations.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "controller/store/sqlite/sqlite_store.h"
#include "tests/test_util.h"

namespace warden {
namespace {

const int kCurrent = static_cast<int>(sqlite::Migrations().size());

// Runs `sql` on the database at `path` with a connection of its own.
void Exec(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

// The first column of the rows `sql` returns, joined by newlines.
std::string Query(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_exec(
        db, sql.c_str(),
        [](void* out, int, char** values, char**) {
          auto* s = static_cast<std::string*>(out);
          if (!s->empty()) *s += "\n";
          *s += values[0] ? values[0] : "NULL";
          return 0;
        },
        &out, nullptr);
  }
  sqlite3_close(db);
  return out;
}

int UserVersion(const std::filesystem::path& path) {
  return std::stoi(Query(path, "PRAGMA user_version"));
}

std::string Schema(const std::filesystem::path& path) {
  return Query(path,
               "SELECT type || ' ' || name || ': ' || sql FROM sqlite_master "
               "ORDER BY type, name");
}

// A database as the controller made it before schema versions, one row in every table.
TEST(SchemaVersions, ADatabaseMadeBeforeVersionsUpgradesInPlaceKeepingEveryRow) {
  testing::TempDir dir;
  const auto path = dir / "warden.db";
  ASSERT_NO_FATAL_FAILURE(
      Exec(path, testing::ReadAll(WARDEN_TESTS_DIR "/controller/store/testdata/schema_v0.sql")));
  ASSERT_EQ(UserVersion(path), 0);

  auto opened = SqliteStore::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  SqliteStore& store = **opened;
  EXPECT_EQ(UserVersion(path), kCurrent);

  auto user = store.GetUser("alice");
  ASSERT_TRUE(user.ok() && user->has_value());
  EXPECT_EQ((*user)->totp_secret, "JBSWY3DPEHPK3PXP");
  EXPECT_EQ((*user)->totp_last_step, 59999999u);

  auto request = store.GetRequest("req-1");
  ASSERT_TRUE(request.ok() && request->has_value());
  EXPECT_EQ((*request)->state, "approved");
  EXPECT_EQ((*request)->grant_id, "grant-1");
  auto approvals = store.ListApprovals("req-1");
  ASSERT_TRUE(approvals.ok());
  ASSERT_EQ(approvals->size(), 2u);
  EXPECT_EQ((*approvals)[1].approver, "carol");

  auto grant = store.GetGrant("grant-1");
  ASSERT_TRUE(grant.ok() && grant->has_value());
  EXPECT_EQ((*grant)->login, "adm-alice-7k2f");
  EXPECT_EQ((*grant)->uid, 60001u);
  EXPECT_EQ((*grant)->revoked_by, "root");
  auto certs = store.ListRevokedLiveCerts(1800000000);
  ASSERT_TRUE(certs.ok());
  ASSERT_EQ(certs->size(), 1u);
  EXPECT_EQ((*certs)[0].serial, 42u);
  EXPECT_EQ((*certs)[0].ca_key, Bytes({0, 1, 2, 3, 4}));
  auto ca_keys = store.ListCaKeys("user", 0);
  ASSERT_TRUE(ca_keys.ok());
  ASSERT_EQ(ca_keys->size(), 1u);
  EXPECT_EQ((*ca_keys)[0].label, "user-ca-0-1");
  EXPECT_EQ(store.GetCounter("host_state").value_or(-1), 3);
  auto gid = store.GroupGid("wheel-ops", []() -> absl::StatusOr<uint32_t> {
    return absl::InternalError("the group has a gid already");
  });
  ASSERT_TRUE(gid.ok()) << gid.status().message();
  EXPECT_EQ(*gid, 60002u);

  auto token =
      store.GetJoinToken("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  ASSERT_TRUE(token.ok() && token->has_value());
  EXPECT_EQ((*token)->hostnames, R"(["db1"])");
  EXPECT_EQ((*token)->used_by, "host-1");
  auto host = store.GetHost("host-1");
  ASSERT_TRUE(host.ok() && host->has_value());
  EXPECT_EQ((*host)->hostname, "db1");

  auto recording = store.GetRecording("sess-1");
  ASSERT_TRUE(recording.ok() && recording->has_value());
  EXPECT_EQ((*recording)->alerts, std::vector<std::string>{"destructive-command"});
  EXPECT_EQ((*recording)->seal, Bytes({0xcc, 0xdd}));
  RecordingFilter by_command;
  by_command.command = "-rf";
  EXPECT_EQ(store.ListRecordings(by_command).value_or(std::vector<RecordingRow>{}).size(), 1u);
  std::vector<uint64_t> chunks;
  ASSERT_TRUE(store
                  .ForEachRecordingChunk("sess-1",
                                         [&](const RecordingChunkRow& c) {
                                           chunks.push_back(c.seq);
                                           return absl::OkStatus();
                                         })
                  .ok());
  EXPECT_EQ(chunks, std::vector<uint64_t>{1});

  auto anchor = store.GetAuditAnchor();
  ASSERT_TRUE(anchor.ok() && anchor->has_value());
  EXPECT_EQ((*anchor)->seq, 17u);

  auto seal = store.GetVaultSeal();
  ASSERT_TRUE(seal.ok() && seal->has_value());
  EXPECT_EQ((*seal)->mode, "shamir");
  EXPECT_EQ((*seal)->threshold, 3);
  auto version = store.GetSecretVersion("apps/bank/admin", 0);
  ASSERT_TRUE(version.ok() && version->has_value());
  EXPECT_EQ((*version)->version, 1);
  EXPECT_EQ((*version)->ciphertext, Bytes({'c', 'i', 'p', 'h', 'e'}));
  auto wrap = store.GetWrap("acc-1");
  ASSERT_TRUE(wrap.ok() && wrap->has_value());
  EXPECT_TRUE((*wrap)->checkout);
  EXPECT_EQ((*wrap)->approvals_required, 2);
  auto authorizations = store.ListAuthorizations("acc-1");
  ASSERT_TRUE(authorizations.ok());
  ASSERT_EQ(authorizations->size(), 1u);
  EXPECT_EQ((*authorizations)[0].reason, "CHG-1 ok");
  auto checkout = store.GetCheckout("apps/bank/admin");
  ASSERT_TRUE(checkout.ok() && checkout->has_value());
  EXPECT_EQ((*checkout)->holder, "alice");
}

// Version 1 is the schema the controller made before versions, so upgrading such a database
// changes none of its tables (later versions add theirs: db_leases, rotations, host_inventory,
// host_logins; versions 4 and 6 add columns to hosts and join_tokens: kind; uses, used_count and
// replaced_by, left out below), and it ends up like a fresh one.
TEST(SchemaVersions, AnUpgradedDatabaseHasTheSchemaOfAFreshOne) {
  testing::TempDir dir;
  ASSERT_NO_FATAL_FAILURE(
      Exec(dir / "old.db",
           testing::ReadAll(WARDEN_TESTS_DIR "/controller/store/testdata/schema_v0.sql")));
  const std::string version_one =
      "SELECT type || ' ' || name || ': ' || "
      "replace(replace(replace(replace(sql, ', kind TEXT NOT NULL DEFAULT ''host''', ''), "
      "', uses INTEGER NOT NULL DEFAULT 1', ''), ', used_count INTEGER NOT NULL DEFAULT 0', ''), "
      "', replaced_by TEXT NOT NULL DEFAULT ''''', '') FROM sqlite_master "
      "WHERE name NOT LIKE '%db_lease%' AND tbl_name NOT IN ('rotations', 'host_inventory', "
      "'host_logins') ORDER BY type, name";
  const std::string before = Query(dir / "old.db", version_one);
  ASSERT_TRUE(SqliteStore::Open(dir / "old.db").ok());
  ASSERT_TRUE(SqliteStore::Open(dir / "new.db").ok());
  EXPECT_EQ(Query(dir / "old.db", version_one), before);
  EXPECT_EQ(Schema(dir / "old.db"), Schema(dir / "new.db"));
  EXPECT_NE(Schema(dir / "old.db").find("table db_leases"), std::string::npos);
  EXPECT_NE(Schema(dir / "old.db").find("table rotations"), std::string::npos);
}

TEST(SchemaVersions, AFreshDatabaseStartsAtTheCurrentVersionAndStaysThere) {
  testing::TempDir dir;
  ASSERT_TRUE(SqliteStore::Open(dir / "warden.db").ok());
  EXPECT_EQ(UserVersion(dir / "warden.db"), kCurrent);
  auto again = SqliteStore::Open(dir / "warden.db");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE((*again)->InsertUser({"bob", "hash", "SECRET", 0}).ok());
  EXPECT_EQ(UserVersion(dir / "warden.db"), kCurrent);
}

// A newer controller's database, opened by this one: refused with what to do, not a byte
// changed (not even the switch to WAL).
TEST(SchemaVersions, ADatabaseOfANewerVersionIsRefusedAndLeftUntouched) {
  testing::TempDir dir;
  const auto path = dir / "warden.db";
  const int newer = kCurrent + 6;
  ASSERT_NO_FATAL_FAILURE(Exec(
      path, "CREATE TABLE from_the_future (x TEXT); PRAGMA user_version=" + std::to_string(newer)));
  const std::string bytes = testing::ReadAll(path);

  auto store = SqliteStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(
      store.status().message().find("database schema version " + std::to_string(newer) +
                                    " is newer than this controller (knows up to " +
                                    std::to_string(kCurrent) + "): upgrade warden-controller"),
      std::string::npos)
      << store.status().message();
  EXPECT_EQ(testing::ReadAll(path), bytes);
  EXPECT_FALSE(std::filesystem::exists(dir / "warden.db-wal"));
}

// A database made before the hostnames column (version 0 too) gets it, and its tokens read as
// naming none.
TEST(SchemaVersions, AnOldJoinTokenTableGainsTheHostnamesColumn) {
  testing::TempDir dir;
  ASSERT_NO_FATAL_FAILURE(Exec(dir / "old.db",
                               "CREATE TABLE join_tokens (hash TEXT PRIMARY KEY, tier INTEGER NOT "
                               "NULL, labels TEXT NOT NULL, created INTEGER NOT NULL, expires "
                               "INTEGER NOT NULL, created_by TEXT NOT NULL, used_at INTEGER NOT "
                               "NULL DEFAULT 0, used_by TEXT NOT NULL DEFAULT '');"
                               "INSERT INTO join_tokens VALUES ('h',1,'{}',1,2,'root',0,'');"));
  auto store = SqliteStore::Open(dir / "old.db");
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto row = (*store)->GetJoinToken("h");
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->hostnames, "[]");
  EXPECT_EQ((*row)->tier, 1);
}

absl::Status CreateHalfThenFail(sqlite::Database& db) {
  RETURN_IF_ERROR(db.Exec("CREATE TABLE half_done (x TEXT)"));
  return absl::InternalError("injected failure");
}

// Every pending migration runs in one transaction with the version bump: when one fails, the
// database keeps its old version and none of the changes, its own or earlier ones'.
TEST(SchemaVersions, AFailedMigrationLeavesTheDatabaseAtItsOldVersion) {
  testing::TempDir dir;
  const auto path = dir / "warden.db";
  std::vector<sqlite::Migration> failing(sqlite::Migrations().begin(), sqlite::Migrations().end());
  failing.push_back({"a test migration that fails half way", CreateHalfThenFail});

  {
    auto db = sqlite::Database::Open(path);
    ASSERT_TRUE(db.ok()) << db.status().message();
    absl::Status st = sqlite::Migrate(**db, failing);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("injected failure"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("schema version " + std::to_string(kCurrent + 1)),
              std::string::npos)
        << st.message();
  }
  EXPECT_EQ(UserVersion(path), 0);
  EXPECT_EQ(Schema(path), "") << "the earlier migrations were rolled back too";

  ASSERT_TRUE(SqliteStore::Open(path).ok());
  const std::string current = Schema(path);
  {
    auto db = sqlite::Database::Open(path);
    ASSERT_TRUE(db.ok()) << db.status().message();
    EXPECT_FALSE(sqlite::Migrate(**db, failing).ok());
  }
  EXPECT_EQ(UserVersion(path), kCurrent);
  EXPECT_EQ(Schema(path), current);
}

// warden-controller migrate (a package upgrade): an older database is copied before it is
// migrated, the copy keeps the old version and every row; a second run has nothing to do.
TEST(SchemaUpgrade, AnOlderDatabaseIsCopiedThenMigrated) {
  testing::TempDir dir;
  const std::filesystem::path path = dir / "warden.db";
  const int older = kCurrent - 2;
  {
    auto db = sqlite::Database::Open(path);
    ASSERT_TRUE(db.ok()) << db.status().message();
    ASSERT_TRUE(sqlite::Migrate(**db, sqlite::Migrations().first(static_cast<size_t>(older))).ok());
  }
  Exec(path, "INSERT INTO users (name, password_hash, totp_secret) VALUES ('alice', 'h', 's')");
  auto u = SqliteStore::Upgrade(path.string());
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->from, older);
  EXPECT_EQ(u->to, kCurrent);
  EXPECT_EQ(u->backup, path.string() + ".pre-v" + std::to_string(older));
  EXPECT_EQ(UserVersion(path), kCurrent);
  EXPECT_EQ(UserVersion(u->backup), older);
  EXPECT_EQ(Query(u->backup, "SELECT name FROM users"), "alice");
  EXPECT_EQ(Query(path, "SELECT name FROM users"), "alice");

  auto again = SqliteStore::Upgrade(path.string());
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->from, kCurrent);
  EXPECT_TRUE(again->backup.empty());
}

TEST(SchemaUpgrade, AMissingDatabaseIsRefusedWithoutCreatingOne) {
  testing::TempDir dir;
  const std::filesystem::path path = dir / "warden.db";
  auto u = SqliteStore::Upgrade(path.string());
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.status().message().find("warden-controller init"), std::string::npos)
      << u.status().message();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SchemaUpgrade, ANewerDatabaseIsRefusedAndNotCopied) {
  testing::TempDir dir;
  const std::filesystem::path path = dir / "warden.db";
  ASSERT_TRUE(SqliteStore::Open(path.string()).ok());
  Exec(path, "PRAGMA user_version=" + std::to_string(kCurrent + 1));
  auto u = SqliteStore::Upgrade(path.string());
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.status().message().find("newer than this controller"), std::string::npos)
      << u.status().message();
  EXPECT_EQ(UserVersion(path), kCurrent + 1);
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".pre-v" + std::to_string(kCurrent + 1)));
}

}  // namespace
}  // namespace warden
