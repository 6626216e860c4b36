// Discovery: each host's latest inventory of privileged access, and the logins its login records
// showed that did not go through Warden (controller/core/coverage.h).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "controller/store/transaction.h"
#include "controller/store/types.h"

namespace warden {

class InventoryStore : public virtual TransactionalStore {
 public:
  // Replaces the host's inventory.
  virtual absl::Status PutInventory(const InventoryRow& r) = 0;
  virtual absl::StatusOr<std::optional<InventoryRow>> GetInventory(std::string_view host_id) = 0;
  virtual absl::StatusOr<std::vector<InventoryRow>> ListInventories() = 0;
  // False: the host reported this login (its key) before; nothing is written.
  virtual absl::StatusOr<bool> InsertHostLogin(const HostLoginRow& l) = 0;
  // Logins at or after `since_us`, counted per host and kind.
  virtual absl::StatusOr<std::vector<HostLoginCount>> CountHostLogins(int64_t since_us) = 0;
};

}  // namespace warden
