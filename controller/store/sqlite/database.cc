#include "controller/store/sqlite/database.h"

#include <chrono>

#include "common/strings.h"

namespace warden::sqlite {

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(StrCat("cannot open database ", path, ": ", msg));
  }
  sqlite3_busy_timeout(db, 5000);
  return std::unique_ptr<Database>(new Database(db, path));
}

absl::Status Database::Configure() {
  auto lock = Lock();
  RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
  // NORMAL in WAL mode: durable against a process crash, may lose the last commits on power
  // loss; the audit log is flushed on the same schedule.
  RETURN_IF_ERROR(Exec("PRAGMA synchronous=NORMAL"));
  return Exec("PRAGMA foreign_keys=ON");
}

absl::Status Database::StartCheckpointer() {
  {
    auto lock = Lock();
    RETURN_IF_ERROR(Exec("PRAGMA wal_autocheckpoint=0"));
  }
  sqlite3* ckpt = nullptr;
  if (sqlite3_open_v2(path_.c_str(), &ckpt, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(ckpt);
    return absl::UnavailableError(StrCat("cannot open database ", path_, " for checkpoints"));
  }
  sqlite3_busy_timeout(ckpt, 1000);
  checkpointer_ = std::thread([this, ckpt] {
    std::unique_lock lock(ckpt_mu_);
    while (!stopping_) {
      ckpt_cv_.wait_for(lock, std::chrono::seconds(1));
      lock.unlock();
      // PASSIVE never blocks writers; whatever it cannot copy now it copies next time.
      sqlite3_wal_checkpoint_v2(ckpt, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      lock.lock();
    }
    sqlite3_close(ckpt);
  });
  return absl::OkStatus();
}

Database::~Database() {
  {
    std::lock_guard lock(ckpt_mu_);
    stopping_ = true;
  }
  ckpt_cv_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

absl::Status Database::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    return absl::UnavailableError(StrCat("database error: ", msg));
  }
  return absl::OkStatus();
}

absl::StatusOr<Stmt> Database::Prepare(const char* sql) {
  // The lock held by every caller means a cached statement is used by one call at a time.
  auto it = statements_.find(sql);
  if (it != statements_.end()) return Stmt(db_, it->second);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
    return absl::InternalError(StrCat("bad SQL: ", sqlite3_errmsg(db_)));
  }
  statements_.emplace(sql, s);
  return Stmt(db_, s);
}

// Holds the database's lock from BEGIN to COMMIT or ROLLBACK.
class Database::SqliteTransaction final : public Transaction::Impl {
 public:
  SqliteTransaction(Database& db, std::unique_lock<std::recursive_mutex> lock)
      : db_(db), lock_(std::move(lock)) {}
  ~SqliteTransaction() override {
    if (!done_) (void)db_.Exec("ROLLBACK");
  }
  absl::Status Commit() override {
    done_ = true;
    absl::Status st = db_.Exec("COMMIT");
    if (!st.ok()) (void)db_.Exec("ROLLBACK");
    return st;
  }

 private:
  Database& db_;
  std::unique_lock<std::recursive_mutex> lock_;
  bool done_ = false;
};

absl::StatusOr<Transaction> Database::Begin() {
  auto lock = Lock();
  if (absl::Status st = Exec("BEGIN IMMEDIATE"); !st.ok()) {
    return absl::UnavailableError(
        StrCat("the database is busy: another process holds its write lock (", st.message(),
               "); try again"));
  }
  return Transaction(std::make_unique<SqliteTransaction>(*this, std::move(lock)));
}

absl::StatusOr<Transaction> Database::BeginRead() {
  auto lock = Lock();
  RETURN_IF_ERROR(Exec("BEGIN DEFERRED"));
  return Transaction(std::make_unique<SqliteTransaction>(*this, std::move(lock)));
}

}  // namespace warden::sqlite
