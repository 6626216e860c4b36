// The vault: its seal, secret versions (encrypted blobs), wrapping tokens with their dual-control
// authorizations, and check-outs.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/store/transaction.h"
#include "controller/store/types.h"

namespace warden {

class VaultStore : public virtual TransactionalStore {
 public:
  virtual absl::Status PutVaultSeal(const VaultSealRow& r) = 0;
  virtual absl::StatusOr<std::optional<VaultSealRow>> GetVaultSeal() = 0;

  // The next version number of `path` (1 for a new path). Call inside a write transaction with
  // the insert that uses it.
  virtual absl::StatusOr<int64_t> NextSecretVersion(std::string_view path) = 0;
  virtual absl::Status InsertSecretVersion(const SecretVersionRow& r) = 0;
  // `version` 0: the newest.
  virtual absl::StatusOr<std::optional<SecretVersionRow>> GetSecretVersion(std::string_view path,
                                                                           int64_t version) = 0;
  // Every version of `path`, oldest first, blobs left out.
  virtual absl::StatusOr<std::vector<SecretVersionRow>> ListSecretVersions(
      std::string_view path) = 0;
  // Paths that start with `prefix`, sorted.
  virtual absl::StatusOr<std::vector<std::string>> ListSecretPaths(std::string_view prefix) = 0;
  // Soft delete (restorable) or destroy (the blobs are overwritten). Returns how many changed.
  // Opens its own transaction.
  virtual absl::StatusOr<int> DeleteSecretVersions(std::string_view path,
                                                   const std::vector<int64_t>& versions, int64_t at,
                                                   bool destroy) = 0;
  virtual absl::Status MarkSecretUsed(std::string_view path, int64_t version, int64_t at) = 0;

  virtual absl::Status InsertWrap(const WrapRow& w) = 0;
  virtual absl::StatusOr<std::optional<WrapRow>> GetWrap(std::string_view accessor) = 0;
  virtual absl::StatusOr<std::optional<WrapRow>> GetWrapByToken(ByteSpan token_hash) = 0;
  // Returns false when this approver had already authorized it.
  virtual absl::StatusOr<bool> AddAuthorization(std::string_view accessor,
                                                std::string_view approver, std::string_view reason,
                                                int64_t at) = 0;
  virtual absl::StatusOr<std::vector<ApprovalRow>> ListAuthorizations(
      std::string_view accessor) = 0;
  // Marks the wrap unwrapped; false if it already was (exactly once, race-free).
  virtual absl::StatusOr<bool> UseWrap(std::string_view accessor, int64_t at) = 0;

  virtual absl::StatusOr<std::optional<CheckoutRow>> GetCheckout(std::string_view path) = 0;
  // Creates or replaces the check-out of `c.path`.
  virtual absl::Status PutCheckout(const CheckoutRow& c) = 0;
  virtual absl::Status DeleteCheckout(std::string_view path) = 0;
  // Check-outs whose lease ended at or before `now`, earliest end first.
  virtual absl::StatusOr<std::vector<CheckoutRow>> ListExpiredCheckouts(int64_t now) = 0;
};

}  // namespace warden
