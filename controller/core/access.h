// Access requests and grants: the dual-control half of the request -> approve -> issue loop.
//
// Rules (ARCHITECTURE "Data flow"): a requester never approves their own request; approvals by
// one identity count once; approvers must be in the role's approver groups; reaching the
// quorum turns the request into a grant whose lease starts at that moment; pending requests
// expire after the policy's request_ttl.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "controller/core/clock.h"
#include "controller/core/identity.h"
#include "controller/core/policy.h"
#include "controller/store/store.h"

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

class AccessCore {
 public:
  AccessCore(std::shared_ptr<const Policy> policy, Store& store, const Clock& clock)
      : policy_(std::move(policy)), store_(store), clock_(clock) {}

  const Policy& policy() const { return *policy_; }

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

  std::shared_ptr<const Policy> policy_;
  Store& store_;
  const Clock& clock_;
};

// Lowercase base32 identifier material ("7k2f..."), for ids and login suffixes.
std::string RandomId(size_t chars);

}  // namespace warden
