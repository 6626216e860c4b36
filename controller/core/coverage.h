// Discovery and coverage: each host's inventory of privileged access (reported by its wardend,
// common/inventory.h) and the logins its login records show that did not go through Warden,
// turned into the field guide's two KPIs per tier and host group (the hosts' `group` label):
//
//   accounts  privileged accounts with zero standing usable credential: no usable password
//             hash (or one Warden rotates: a rotation target of kind linux for that host and
//             account, held in the vault, not by a person) and no authorized key
//   sessions  privileged sessions that went through Warden and were recorded: the recordings of
//             the tier and group's hosts and gateways, against those plus the logins of
//             privileged accounts (break-glass ones included) their login records show
//
// and the list of unmanaged accounts (each privileged account with a standing credential, and
// which), with the hosts that never reported an inventory or stopped reporting (none for
// kStaleInventory): what is not seen is not covered.
//
// Audit events: host.inventory when a host's inventory changes (which accounts became or stopped
// being privileged or standing), host.login for each login outside Warden (the detection kinds
// break_glass_login and bypass_login).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/inventory.h"
#include "controller/core/audit_log.h"
#include "controller/core/clock.h"
#include "controller/core/identity.h"
#include "controller/core/policy.h"
#include "controller/store/host_store.h"
#include "controller/store/inventory_store.h"
#include "controller/store/recording_store.h"

namespace warden {

// The label that names a host's group (`wardenctl host token create --label group=payments`).
inline constexpr const char* kHostGroupLabel = "group";

// A host whose last report is older than this is not reporting (wardend sends its inventory at
// least hourly).
inline constexpr int64_t kStaleInventory = 3 * 3600;
// The window sessions and logins are counted over when a query names none.
inline constexpr int64_t kDefaultCoverageWindow = 30 * 86400;

struct CoverageQuery {
  int tier = -1;      // -1: every tier
  int64_t since = 0;  // sessions and logins from this time on (unix seconds); 0: the default window
};

struct CoverageGroup {
  int tier = 0;
  std::string group;  // empty: hosts without the label
  int hosts = 0, gateways = 0;
  int hosts_reporting = 0;  // hosts with an inventory
  int privileged = 0, zero_standing = 0;
  uint64_t sessions_recorded = 0, sessions_with_loss = 0;
  uint64_t bypass_logins = 0, break_glass_logins = 0;
};

struct UnmanagedAccount {
  std::string host_id, hostname, group;
  int tier = 0;
  InventoryAccount account;
  bool password_rotated = false;  // its password is Warden's (only its keys are standing)
  bool break_glass = false;
};

struct SilentHost {
  std::string host_id, hostname, group;
  int tier = 0;
  int64_t last_report = 0;  // 0: never
};

struct HostProblem {
  std::string hostname, problem;
};

struct CoverageReport {
  int64_t since = 0, now = 0;
  std::vector<CoverageGroup> groups;  // by tier, then group
  std::vector<UnmanagedAccount> unmanaged;
  std::vector<SilentHost> not_reporting;
  std::vector<HostProblem> problems;  // what hosts could not read
};

class Coverage {
 public:
  Coverage(const Policy& policy, HostStore& hosts, InventoryStore& store, RecordingStore& recordings,
           AuditLog& audit, const Clock& clock)
      : policy_(policy), hosts_(hosts), store_(store), recordings_(recordings), audit_(audit),
        clock_(clock) {}

  // A host's report: `inventory` (absent: unchanged) replaces its last one; each login it has
  // not reported before is stored once. The audit events are written before the transaction
  // commits: a report that fails after one was written is sent again by the host, its rows
  // stored once and its events written again (at least once, never lost). Refuses what exceeds
  // the caps of common/inventory.h before anything is written.
  absl::Status Report(std::string_view host_id, const std::optional<Inventory>& inventory,
                      const std::vector<HostLogin>& logins);

  // For admins and recording viewers.
  absl::StatusOr<CoverageReport> Compute(const Identity& who, const CoverageQuery& q);

 private:
  bool PasswordRotated(std::string_view hostname, std::string_view account) const;

  const Policy& policy_;
  HostStore& hosts_;
  InventoryStore& store_;
  RecordingStore& recordings_;
  AuditLog& audit_;
  const Clock& clock_;
};

}  // namespace warden
