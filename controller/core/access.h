// Access requests and grants: the dual-control half of the request -> approve -> issue loop.
//
// Rules (ARCHITECTURE "Data flow"): a requester never approves their own request; approvals by
// one identity count once; approvers must be in the role's approver groups; reaching the
// quorum turns the request into a grant whose lease starts at that moment; pending requests
// expire after the policy's request_ttl.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/totp.h"
#include "controller/core/clock.h"
#include "controller/core/identity.h"
#include "controller/core/policy.h"
#include "controller/store/access_store.h"

namespace warden {

struct RequestView {
  RequestRow row;  // state "expired" is computed, never stored
  std::vector<ApprovalRow> approvals;
  int approvals_required = 0;
  std::vector<std::string> approver_groups;
};

struct GrantView {
  GrantRow row;
  std::string state;  // active, expired, revoked
  int certificates = 0;
};

// Tells subscribers (hosts' watch streams) that what hosts must hold has changed: a grant was
// created or revoked, or a CA key rotated. The durable revision is the store's `host_state`
// counter, bumped in the same transaction as the change; Publish runs after the commit.
class ChangeFeed {
 public:
  using Listener = std::function<void()>;
  uint64_t Subscribe(Listener fn);
  void Unsubscribe(uint64_t id);
  void Publish();

 private:
  std::mutex mu_;
  uint64_t next_ = 1;
  std::map<uint64_t, Listener> listeners_;
};

inline constexpr std::string_view kHostStateCounter = "host_state";

class AccessCore {
 public:
  AccessCore(std::shared_ptr<const Policy> policy, AccessStore& store, const Clock& clock)
      : policy_(std::move(policy)), store_(store), clock_(clock) {}

  const Policy& policy() const { return *policy_; }
  ChangeFeed& changes() { return changes_; }

  // ttl 0 = the role's max_ttl; a larger ttl is clamped to max_ttl (noted on the request).
  absl::StatusOr<RequestView> Create(const Identity& who, std::string_view role,
                                     std::string_view reason, int64_t ttl);
  absl::StatusOr<RequestView> Get(const Identity& who, std::string_view id);
  absl::StatusOr<std::vector<RequestView>> List(const Identity& who, bool all);
  absl::StatusOr<RequestView> Approve(const Identity& who, std::string_view id);
  absl::StatusOr<RequestView> Deny(const Identity& who, std::string_view id);
  absl::StatusOr<RequestView> Cancel(const Identity& who, std::string_view id);

  absl::StatusOr<std::vector<GrantView>> ListGrants(const Identity& who, bool all);
  absl::StatusOr<GrantView> GetGrant(std::string_view id);
  // The owner, an approver of the grant's role, or an admin may revoke.
  absl::StatusOr<GrantView> Revoke(const Identity& who, std::string_view id);

  // The active grant `id` owned by `who`, or an error saying why it cannot be used.
  absl::StatusOr<GrantRow> UsableGrant(const Identity& who, std::string_view id);

 private:
  absl::StatusOr<RequestView> Load(std::string_view id);
  absl::StatusOr<RequestRow> LoadForReview(const Identity& who, std::string_view id,
                                           const Role** role);
  GrantView ViewOf(GrantRow g);
  std::string StateOf(const GrantRow& g) const;

  // The next account id (uid, and gid of groups) from the policy's range; never reused.
  absl::StatusOr<uint32_t> NextAccountId();

  std::shared_ptr<const Policy> policy_;
  AccessStore& store_;
  const Clock& clock_;
  ChangeFeed changes_;
};


}  // namespace warden
