// One SQLite database in WAL mode: the connection every call uses, guarded by one lock, its
// statement cache, transactions, and a background WAL checkpointer on a second connection.
// Knows nothing of the schema (migrations.h) or the tables (sqlite_store.h).
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/status.h"
#include "controller/store/sqlite/statement.h"
#include "controller/store/transaction.h"

namespace warden::sqlite {

class Database {
 public:
  // Opens (creating if missing) the database at `path`, with a 5 s busy timeout. Writes nothing
  // to it: Configure() does.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path);
  ~Database();

  // WAL journal, synchronous=NORMAL, foreign keys on.
  absl::Status Configure();
  // Moves WAL checkpoints to a background thread with a connection of its own, so that no call
  // pays for one while holding the lock.
  absl::Status StartCheckpointer();

  // The lock every call takes; transactions hold it from Begin to their end, and it is recursive
  // so that calls inside a transaction take it again.
  std::unique_lock<std::recursive_mutex> Lock() { return std::unique_lock(mu_); }
  // REQUIRES: Lock() held.
  absl::Status Exec(const char* sql);
  // A statement of the cache, prepared on first use. REQUIRES: Lock() held for the Stmt's life.
  absl::StatusOr<Stmt> Prepare(const char* sql);
  // Rows changed by the last statement. REQUIRES: Lock() held since that statement.
  int Changes() { return sqlite3_changes(db_); }

  // See TransactionalStore.
  absl::StatusOr<Transaction> Begin();
  absl::StatusOr<Transaction> BeginRead();

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  class SqliteTransaction;

  sqlite3* db_;
  const std::string path_;
  std::recursive_mutex mu_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;  // prepared once, by SQL text
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool stopping_ = false;  // guarded by ckpt_mu_
  std::thread checkpointer_;
};

}  // namespace warden::sqlite
