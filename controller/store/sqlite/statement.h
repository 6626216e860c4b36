// A prepared SQLite statement with typed binders and readers.
#pragma once

#include <sqlite3.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "common/strings.h"

namespace warden::sqlite {

// Borrows a statement from Database's cache (see Database::Prepare) and resets it when done.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  Stmt(Stmt&& o) noexcept : db_(o.db_), s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt() {
    if (s_) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }

  Stmt& Bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& BindBlob(int i, ByteSpan v) {
    // An empty blob, not NULL (which a null data pointer would bind).
    static const uint8_t kEmpty = 0;
    sqlite3_bind_blob(s_, i, v.empty() ? &kEmpty : v.data(), static_cast<int>(v.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  // Returns true while there is a row.
  absl::StatusOr<bool> Step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    if (rc == SQLITE_CONSTRAINT) {
      return absl::AlreadyExistsError(StrCat("constraint: ", sqlite3_errmsg(db_)));
    }
    return absl::UnavailableError(StrCat("database error: ", sqlite3_errmsg(db_)));
  }
  absl::Status Run() { return Step().status(); }
  std::string Text(int col) {
    const unsigned char* p = sqlite3_column_text(s_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(s_, col)))
             : std::string();
  }
  int64_t Int(int col) { return sqlite3_column_int64(s_, col); }
  Bytes Blob(int col) {
    const uint8_t* p = static_cast<const uint8_t*>(sqlite3_column_blob(s_, col));
    return p ? Bytes(p, p + sqlite3_column_bytes(s_, col)) : Bytes();
  }

  // The first row made by `read` from this statement, if there is one.
  template <typename Read>
  auto ReadOne(Read read) -> absl::StatusOr<std::optional<decltype(read(*this))>> {
    ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return std::nullopt;
    return read(*this);
  }
  // Every row, each made by `read` from this statement.
  template <typename Read>
  auto ReadAll(Read read) -> absl::StatusOr<std::vector<decltype(read(*this))>> {
    std::vector<decltype(read(*this))> out;
    while (true) {
      ASSIGN_OR_RETURN(bool row, Step());
      if (!row) return out;
      out.push_back(read(*this));
    }
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_;
};

}  // namespace warden::sqlite
