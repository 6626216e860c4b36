// Access requests, their approvals, grants, the certificates issued under grants, the SSH CA
// keys that sign them, managed groups' gids and the named counters (host state revision, KRL
// version, account ids) that move with them.
#pragma once

#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "controller/store/transaction.h"
#include "controller/store/types.h"

namespace warden {

class AccessStore : public virtual TransactionalStore {
 public:
  virtual absl::Status InsertRequest(const RequestRow& r) = 0;
  virtual absl::StatusOr<std::optional<RequestRow>> GetRequest(std::string_view id) = 0;
  // Oldest first.
  virtual absl::StatusOr<std::vector<RequestRow>> ListRequests(bool pending_only) = 0;
  // Writes the decision fields (state, grant_id, decided_by, note) of request `r.id`.
  virtual absl::Status UpdateRequest(const RequestRow& r) = 0;
  // Returns false when this approver had already approved.
  virtual absl::StatusOr<bool> AddApproval(std::string_view request_id, std::string_view approver,
                                           int64_t at) = 0;
  // `reason` is empty: approvals of requests carry none.
  virtual absl::StatusOr<std::vector<ApprovalRow>> ListApprovals(std::string_view request_id) = 0;

  virtual absl::Status InsertGrant(const GrantRow& g) = 0;
  virtual absl::StatusOr<std::optional<GrantRow>> GetGrant(std::string_view id) = 0;
  virtual absl::StatusOr<std::vector<GrantRow>> ListGrants() = 0;
  // Grants neither revoked nor ended at `now`.
  virtual absl::StatusOr<std::vector<GrantRow>> ListLiveGrants(int64_t now) = 0;
  // Whether any grant, live or not, ever used this login (logins are never reused).
  virtual absl::StatusOr<bool> LoginInUse(std::string_view login) = 0;
  virtual absl::Status RevokeGrant(std::string_view id, int64_t at, std::string_view by) = 0;

  // Fails with AlreadyExists when the serial is taken.
  virtual absl::Status InsertCert(const CertRow& c) = 0;
  virtual absl::StatusOr<int> CountCerts(std::string_view grant_id) = 0;
  // Certificates of revoked grants that are still within their validity at `now`.
  virtual absl::StatusOr<std::vector<CertRow>> ListRevokedLiveCerts(int64_t now) = 0;

  virtual absl::Status InsertCaKey(const CaKeyRow& k) = 0;
  // Oldest first.
  virtual absl::StatusOr<std::vector<CaKeyRow>> ListCaKeys(std::string_view purpose, int tier) = 0;
  virtual absl::Status SetCaKeyState(std::string_view label, std::string_view state) = 0;

  // The gid of a Warden-managed group, allocated from `next_id` on first use; never reused.
  virtual absl::StatusOr<uint32_t> GroupGid(
      std::string_view name, const std::function<absl::StatusOr<uint32_t>()>& next_id) = 0;

  // A named counter's value; 0 before its first bump.
  virtual absl::StatusOr<int64_t> GetCounter(std::string_view name) = 0;
  // Adds one and returns the new value.
  virtual absl::StatusOr<int64_t> BumpCounter(std::string_view name) = 0;
};

}  // namespace warden
