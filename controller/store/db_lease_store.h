// Leases of dynamic database credentials (controller/core/db_credentials.h): one row per role
// Warden created on a database, kept after revocation as its history.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/store/transaction.h"

namespace warden {

struct DbLeaseRow {
  std::string id;  // "db/ROLE/RANDOM"
  std::string role, connection, username, owner;
  int64_t created = 0, expires = 0, max_expires = 0;
  int64_t revoked = 0;       // when the role was dropped; 0 while it may exist
  int attempts = 0;          // failed revocations in a row
  int64_t next_attempt = 0;  // no revocation retried before this
  std::string last_error;
};

class DbLeaseStore : public virtual TransactionalStore {
 public:
  virtual absl::Status InsertDbLease(const DbLeaseRow& r) = 0;
  virtual absl::StatusOr<std::optional<DbLeaseRow>> GetDbLease(std::string_view id) = 0;
  // Sets a live lease's expiry; with `only_if_expires` set, only while its expiry is still
  // that (a renewal that read the lease before a revocation shortened it changes nothing).
  virtual absl::Status SetDbLeaseExpiry(std::string_view id, int64_t expires,
                                        std::optional<int64_t> only_if_expires = std::nullopt) = 0;
  // Leases not revoked yet: all, or those whose id starts with `id_prefix`, or `owner`'s.
  virtual absl::StatusOr<std::vector<DbLeaseRow>> ListLiveDbLeases(std::string_view id_prefix,
                                                                   std::string_view owner) = 0;
  // Live leases whose time is up at `now` and whose retry (if any) is due, earliest first.
  virtual absl::StatusOr<std::vector<DbLeaseRow>> ListDueDbLeases(int64_t now, int limit) = 0;
  virtual absl::Status MarkDbLeaseRevoked(std::string_view id, int64_t at) = 0;
  virtual absl::Status NoteDbLeaseFailure(std::string_view id, int attempts, int64_t next_attempt,
                                          std::string_view error) = 0;
};

}  // namespace warden
