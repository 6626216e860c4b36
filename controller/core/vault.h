// The vault: versioned secrets at paths, encrypted at rest, read under dual control.
//
// Keys. Each secret version is AES-256-GCM encrypted under its own data key; the data key is
// encrypted under the vault's root key; both with the path and version as associated data, so a
// blob moved to another path or version does not open. The root key exists in memory only while
// the vault is unsealed, and is kept in one of two ways (`warden-controller init --seal`):
//   pkcs11  encrypted by an AES-256 key-encryption key generated inside the token (sensitive, never
//           extractable): the controller unseals itself at start. The root key is also split into
//           recovery shares printed once at init, so losing the token does not lose the secrets.
//   shamir  split into shares printed once at init; the controller starts sealed, and custodians
//           (the policy's vault.custodians, one share per person) unseal it.
// `Seal` drops the root key at once; until unsealed again (shares, or a restart in pkcs11 mode)
// every secret operation is refused with a message saying so.
//
// Dual control. A read of a path with a control group returns a single-use wrapping token (to the
// requester only) and an accessor (to share with approvers), not the secret. Approvers from the
// group authorize the accessor, which is bound to one request (path, version, requester); the
// requester can never authorize their own, and one person counts once. Once the quorum is met the
// requester unwraps the token exactly once; an unwrapped token dies at its TTL (the path's
// control_group.ttl, capped by vault.max_wrap_ttl).
//
// Check-out. On a path with `checkout`, a read also checks the secret out: exclusive to the
// holder until check-in or the lease ends. With rotate_after_use, the check-in marks the version
// used: a rotation target (rotation.h) gets a new value at the next rotation pass; any other path
// raises an alert (vault.rotate_needed) for a person to change it.
//
// Values never appear in errors or logs; audit events carry their HMAC.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/shamir.h"
#include "controller/core/audit_log.h"
#include "controller/core/clock.h"
#include "controller/core/identity.h"
#include "controller/core/policy.h"
#include "controller/keys/keystore.h"
#include "controller/store/vault_store.h"

namespace warden {

inline constexpr std::string_view kVaultKekLabel = "vault-kek-1";
inline constexpr size_t kMaxSecretBytes = 64 * 1024;

struct VaultInit {
  std::string mode = "pkcs11";  // pkcs11 or shamir
  int shares = 5, threshold = 3;
};

// Creates the root key and its seal; returns the shares (unseal shares in shamir mode, recovery
// shares in pkcs11 mode), to be printed once. REQUIRES: the vault was never initialised.
absl::StatusOr<std::vector<std::string>> InitializeVault(VaultStore& store, KeyStore& keys,
                                                         const VaultInit& init);

struct VaultStatus {
  bool initialized = false, sealed = true;
  std::string mode;
  int shares = 0, threshold = 0, progress = 0;  // progress: shares given toward an unseal
};

struct WrapInfo {
  std::string accessor, path, requester;
  int64_t version = 0, created = 0, expires = 0;
  int approvals_required = 0;
  std::vector<ApprovalRow> approvals;
  bool unwrapped = false, checkout = false;
};

// A value sealed under the root key: `value` under a fresh data key, `key` that data key under
// the root key; both bound to the path, version and kind of value.
struct SealedValue {
  Bytes key, value;
};

struct SecretRead {
  // Either the value (no control group) or a wrapping token for it.
  SecretBytes value;
  int64_t version = 0;
  std::string token;  // the wrapping token: shown to the requester once
  WrapInfo wrap;
  int64_t checked_out_until = 0;
};

class Vault {
 public:
  Vault(const Policy& policy, VaultStore& store, KeyStore& keys, AuditLog& audit,
        const Clock& clock)
      : policy_(policy), store_(store), keys_(keys), audit_(audit), clock_(clock) {}

  // pkcs11 mode: unseal with the token at start. shamir mode: stays sealed.
  absl::Status Start();
  VaultStatus Status();
  // The status, for custodians and admins (the seal is theirs to run).
  absl::StatusOr<VaultStatus> StatusFor(const Identity& who);
  // One custodian's share. When the threshold is reached the root key is rebuilt and checked;
  // a wrong share is refused then (all shares given so far are dropped: start again).
  absl::StatusOr<VaultStatus> Unseal(const Identity& who, std::string_view share_text);
  absl::Status Seal(const Identity& who);

  absl::StatusOr<int64_t> Put(const Identity& who, std::string_view path, ByteSpan value);
  // `version` 0: the newest.
  absl::StatusOr<SecretRead> Read(const Identity& who, std::string_view path, int64_t version);
  absl::StatusOr<std::vector<std::string>> List(const Identity& who, std::string_view prefix);
  absl::StatusOr<std::vector<SecretVersionRow>> Metadata(const Identity& who, std::string_view path);
  absl::StatusOr<int> Delete(const Identity& who, std::string_view path,
                             const std::vector<int64_t>& versions, bool destroy);

  absl::StatusOr<WrapInfo> LookupWrap(const Identity& who, std::string_view accessor);
  absl::StatusOr<WrapInfo> Authorize(const Identity& who, std::string_view accessor,
                                     std::string_view reason);
  absl::StatusOr<SecretRead> Unwrap(const Identity& who, std::string_view token);
  // Ends `who`'s check-out of `path`. Someone who may not read `path` is refused before the
  // check-out is looked up.
  absl::Status CheckIn(const Identity& who, std::string_view path);
  // For the SSH broker (broker.h): the newest value of `path` for a gateway session of `holder`,
  // on the authority of `holder`'s approved grant (`grant_approvals` approvals) rather than of
  // the path's read capability; never handed to the operator. Where the path checks out, the
  // check-out is `holder`'s, exclusive as for a read. A path with a control group is refused
  // unless the grant's approvals reach its quorum.
  absl::StatusOr<SecretRead> ReadForBroker(std::string_view holder, std::string_view path,
                                           int grant_approvals);
  // Ends `holder`'s check-out of `path` taken by ReadForBroker (as CheckIn: a use, with
  // rotate_after_use). False when there was none to end (the path does not check out, the lease
  // already ended, or someone else holds it now).
  absl::StatusOr<bool> CheckInForBroker(std::string_view holder, std::string_view path);
  // Ends every check-out whose lease has run out (the controller calls this every few seconds);
  // with rotate_after_use each counts as a use. Returns how many ended.
  absl::StatusOr<int> EndExpiredCheckouts();

  // The newest live version of `path`, for the controller's own use (the admin credential of a
  // database connection): no identity, no policy check, no control group. Never handed to a
  // caller.
  absl::StatusOr<SecretBytes> ReadForController(std::string_view path);

  // For rotation (rotation.h): no identity, no policy check, never handed to a caller.
  struct Current {
    SecretBytes value;
    int64_t version = 0, used = 0;
  };
  // The newest live version of `path`; NOT_FOUND when it has none.
  absl::StatusOr<Current> CurrentForController(std::string_view path);
  // A rotation's new value, sealed for `path` but outside its versions (it opens only as a
  // pending value of that path).
  absl::StatusOr<SealedValue> SealPending(std::string_view path, ByteSpan value);
  absl::StatusOr<SecretBytes> OpenPending(std::string_view path, const SealedValue& sealed);
  // Adds `value` as the newest version of `path`; returns its number.
  // REQUIRES: inside a write Transaction of the vault's store.
  absl::StatusOr<int64_t> InsertVersionInTransaction(std::string_view path, ByteSpan value,
                                                     std::string_view created_by);
  // A rotation of `path` starts: refused (FAILED_PRECONDITION, naming the holder) while the path
  // is checked out; from then on a check-out of it is refused instead, until SetRotating(path,
  // false) (rotation.cc keeps it so while a new value is pending). One lock orders the two, so
  // no holder can take a value in the middle of being replaced.
  absl::Status BeginRotation(std::string_view path);
  void SetRotating(std::string_view path, bool rotating);
  bool IsRotating(std::string_view path);

  // "hmac-sha256:..." of a value, for audit events.
  std::string Fingerprint(ByteSpan value) const { return audit_.Redact(AsChars(value)); }

 private:
  // What `who` may do at `path`, or why not.
  absl::StatusOr<const VaultPathPolicy*> Allowed(const Identity& who, std::string_view path,
                                                 std::string_view capability);
  absl::Status RequireUnsealed();
  absl::StatusOr<SecretBytes> RootKey();
  // The binding labels of a kind of sealed value: one kind never opens as another.
  struct SealKind {
    std::string_view value_label, key_label;
  };
  static constexpr SealKind kVersionKind{"warden-kv-v1", "warden-dek-v1"};
  static constexpr SealKind kPendingKind{"warden-pending-v1", "warden-pending-dek-v1"};
  absl::StatusOr<SealedValue> SealUnder(const SealKind& kind, std::string_view path,
                                        int64_t version, ByteSpan value);
  absl::StatusOr<SecretBytes> OpenUnder(const SealKind& kind, std::string_view path,
                                        int64_t version, const SealedValue& sealed);
  absl::StatusOr<SecretBytes> Decrypt(const SecretVersionRow& row);
  absl::StatusOr<WrapInfo> Info(const WrapRow& w);
  // Takes the check-out of `path` for `who`, or says who holds it.
  absl::StatusOr<int64_t> CheckOut(const Identity& who, const VaultPathPolicy& vp,
                                   std::string_view path, int64_t version);
  // Removes a check-out; with rotate_after_use the version is marked used and an alert written
  // (the rotation hook, until rotation exists). `why`: "checked in", "lease ended".
  // REQUIRES: inside a write Transaction (they do not nest).
  absl::Status EndCheckoutInTransaction(const CheckoutRow& held, std::string_view why);

  const Policy& policy_;
  VaultStore& store_;
  KeyStore& keys_;
  AuditLog& audit_;
  const Clock& clock_;
  std::mutex mu_;
  // Paths being rotated (BeginRotation); also held across a check-out's check and write.
  std::mutex rotating_mu_;
  std::set<std::string, std::less<>> rotating_;
  SecretBytes root_;                 // empty while sealed
  std::vector<Share> pending_;       // unseal shares given so far
  std::vector<std::string> givers_;  // who gave them
};

// Path syntax: segments of [A-Za-z0-9._-] separated by '/', 1..256 bytes.
absl::Status CheckSecretPath(std::string_view path);

}  // namespace warden
