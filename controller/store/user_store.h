// Operator accounts: password hashes and TOTP secrets with the last TOTP step used.
#pragma once

#include <optional>
#include <string_view>

#include "controller/store/transaction.h"
#include "controller/store/types.h"

namespace warden {

class UserStore : public virtual TransactionalStore {
 public:
  // Fails with AlreadyExists, naming the user, when the name is taken.
  virtual absl::Status InsertUser(const UserRow& u) = 0;
  virtual absl::StatusOr<std::optional<UserRow>> GetUser(std::string_view name) = 0;
  // Records that `name` used TOTP step `step`, in one statement that only ever moves the step
  // forward: returns false (and changes nothing) when a step at or after `step` was recorded
  // already, i.e. the code was used, concurrently or before.
  virtual absl::StatusOr<bool> UseTotpStep(std::string_view name, uint64_t step) = 0;
};

}  // namespace warden
