// Transactions over the controller's store, independent of the database behind it.
#pragma once

#include <memory>

#include "common/status.h"

namespace warden {

// A group of store calls that commit together or not at all. Rolled back when destroyed unless
// Commit() succeeded. Move-only; made by TransactionalStore::Begin() / BeginRead().
class Transaction {
 public:
  // What a backend puts behind a Transaction. Its destructor rolls back unless Commit() was
  // called (whatever Commit() returned).
  class Impl {
   public:
    virtual ~Impl() = default;
    // Called at most once. On failure the transaction has been rolled back.
    virtual absl::Status Commit() = 0;
  };

  explicit Transaction(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
  Transaction(Transaction&&) noexcept = default;
  Transaction& operator=(Transaction&&) = delete;

  // REQUIRES: not called before on this transaction.
  absl::Status Commit() { return impl_->Commit(); }

 private:
  std::unique_ptr<Impl> impl_;
};

// What every per-domain store interface shares. All interfaces of one store object sit on one
// database, so one transaction spans calls through any of them (AccessStore and HostStore, say).
//
// Contract of every transaction:
// - While it is open, calls from other threads wait for it: the calls of the thread holding it
//   run inside it.
// - They do not nest: a call documented as opening its own transaction is never made inside one,
//   nor is Begin()/BeginRead().
// - Failing to begin changes nothing.
class TransactionalStore {
 public:
  virtual ~TransactionalStore() = default;

  // A write transaction, holding the database's write lock from the start. While another
  // process holds that lock (`warden-controller user add`, say) it waits up to 5 s, then fails
  // with UNAVAILABLE.
  virtual absl::StatusOr<Transaction> Begin() = 0;
  // A read transaction: one consistent snapshot for several reads, without the write lock.
  virtual absl::StatusOr<Transaction> BeginRead() = 0;
};

}  // namespace warden
