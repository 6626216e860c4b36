// The state of each rotation target (controller/core/rotation.h): when it was last rotated and
// reconciled, whether it drifted, and a rotation under way, whose new value is written here
// (sealed by the vault) before the target is changed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "controller/store/transaction.h"

namespace warden {

struct RotationRow {
  std::string path;
  std::string status = "ok";  // ok; drifted (the vaulted value was refused: a break)
  int64_t drifted_since = 0;
  int64_t last_rotated = 0, next_rotation = 0;  // next_rotation 0: none scheduled
  int64_t last_reconciled = 0, next_reconcile = 0;
  int failures = 0;          // failed rotations in a row
  int64_t next_attempt = 0;  // no rotation retried before this
  std::string last_error;
  // A rotation under way (pending_since 0: none): the new value sealed by the vault, and why.
  int64_t pending_since = 0;
  std::string pending_by, pending_why;
  Bytes pending_key, pending_value;
};

class RotationStore : public virtual TransactionalStore {
 public:
  virtual absl::StatusOr<std::optional<RotationRow>> GetRotation(std::string_view path) = 0;
  // Creates or replaces the row of `r.path`.
  virtual absl::Status PutRotation(const RotationRow& r) = 0;
  // Every row, by path, sealed values left out.
  virtual absl::StatusOr<std::vector<RotationRow>> ListRotations() = 0;
};

}  // namespace warden
