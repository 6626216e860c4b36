// The audit log's anchor: its signed head as of the last checkpoint, kept in the store rather
// than in the log file so that a log cut at its end is noticed (see controller/core/audit_log.h).
#pragma once

#include <optional>

#include "controller/store/transaction.h"
#include "controller/store/types.h"

namespace warden {

class AuditStore : public virtual TransactionalStore {
 public:
  // Replaces the anchor.
  virtual absl::Status PutAuditAnchor(const AuditAnchorRow& r) = 0;
  virtual absl::StatusOr<std::optional<AuditAnchorRow>> GetAuditAnchor() = 0;
};

}  // namespace warden
