// Rotation and reconciliation of the credentials Warden owns on their targets (the policy's
// `rotation:` section, rotation_policy.h).
//
// Rotation, crash-safe. A new password is generated under the target's password policy and
// written, sealed by the vault, as the target's pending value (rotations table) before anything
// changes on the target. Then the target is changed, the new value is proven to log in, and only
// then does it become the newest vault version, in one transaction with the pending value's
// removal. Whatever stops in between (a crash, a target that went away, a full disk), the
// pending value is resolved later, at start (`Recover`) and by every pass (`RunDue`): the
// pending value is tried first (it works: committed), then the current one (it works: the
// target never changed; the pending value is dropped). If neither logs in, nobody's copy is the
// password: the target has drifted. If the target cannot be reached, the pending value is kept
// and tried again. So there is no state in which Warden does not know which of its two values
// is the password.
//
// Triggers: the schedule (`period`, each run up to `jitter` early at random), on demand
// (`Rotate`), and after use: a version checked in (or whose check-out ran out) on a path with
// rotate_after_use is marked used and rotated by the next pass. A checked-out value is not
// rotated under its holder's feet: a due rotation waits for the check-in. A failed rotation is
// an alert (vault.rotate_failed) and is retried with backoff (30 s doubling to 1 h).
//
// Reconciliation proves, every `reconcile_every` and on demand (`Reconcile`), that the vaulted
// value still logs in. A refusal is a break: the target is `drifted`, a critical alert
// (vault.reconcile_break) is raised, and nothing is retried or rotated on it until an admin has
// looked and runs `Reset` (wardenctl vault reset): an automatic fix could hide whoever changed
// it. A target that cannot be reached is an alert (vault.reconcile_failed), not a break.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "controller/core/audit_log.h"
#include "controller/core/clock.h"
#include "controller/core/identity.h"
#include "controller/core/policy.h"
#include "controller/core/vault.h"
#include "controller/store/rotation_store.h"

namespace warden {

// A kind of system whose passwords Warden changes (rotation_policy.h's `kind`).
class CredentialTarget {
 public:
  virtual ~CredentialTarget() = default;
  // Changes the password of `t`'s account from `current` to `next`. `current` is null when
  // Warden does not hold it (only where SetsWithoutCurrent).
  virtual absl::Status Change(const RotationTargetPolicy& t, const SecretBytes* current,
                              const SecretBytes& next) = 0;
  // OK: `value` logs in as `t`'s account. PERMISSION_DENIED: the target refused it. Any other
  // error: it could not be told (the target is down, say).
  virtual absl::Status Verify(const RotationTargetPolicy& t, const SecretBytes& value) = 0;
  // Whether Change works without the current password (an admin of the target sets it).
  virtual bool SetsWithoutCurrent(const RotationTargetPolicy& t) const = 0;
};

struct RotationStatus {
  RotationRow row;  // sealed values left out
  std::string kind;
  int64_t period = 0, reconcile_every = 0;
  int64_t version = 0;  // the newest live vault version (0: none)
  bool pending() const { return row.pending_since != 0; }
};

struct ReconcileResult {
  std::string path;
  // ok; break (refused now: drifted); drifted (refused earlier, reset pending); unreachable;
  // missing (no secret in the vault)
  std::string outcome;
  std::string detail;
};

// Who rotations started by the controller itself are written as (vault versions, audit).
inline constexpr std::string_view kRotationActor = "warden-controller";

class CredentialRotation {
 public:
  CredentialRotation(const Policy& policy, RotationStore& store, Vault& vault, AuditLog& audit,
                     const Clock& clock)
      : policy_(policy), store_(store), vault_(vault), audit_(audit), clock_(clock) {}

  // REQUIRES: before any other call; `target` outlives this.
  void AddTarget(std::string kind, CredentialTarget& target) { kinds_[std::move(kind)] = &target; }

  // Resolves the rotations a crash left pending. Returns how many it resolved.
  absl::StatusOr<int> Recover();
  // Rotates `path` now; returns the new vault version. Admins, or the path's `rotate` groups.
  absl::StatusOr<int64_t> Rotate(const Identity& who, std::string_view path);
  // Rotates `path` now because a gateway session that used it ended (broker.h): no caller's
  // rights are checked; the audit names `by`. Returns the new vault version.
  absl::StatusOr<int64_t> RotateAfterSession(std::string_view path, std::string_view by);
  // Proves the vaulted value of each target at or below `prefix` ("" = all) that `who` may
  // rotate; `prefix` naming a target exactly reconciles that one.
  absl::StatusOr<std::vector<ReconcileResult>> Reconcile(const Identity& who,
                                                         std::string_view prefix);
  // Clears a drift, after investigation: the vaulted value logs in again (someone put the
  // right one), or Warden sets a new one where it can without the old. Admins only.
  absl::Status Reset(const Identity& who, std::string_view path);
  // The targets at or below `prefix` that `who` may rotate, with their state.
  absl::StatusOr<std::vector<RotationStatus>> List(const Identity& who, std::string_view prefix);
  // One background pass: pending values to resolve, rotations due (schedule, after use,
  // retries) and reconciliations due. Returns how many targets it acted on.
  absl::StatusOr<int> RunDue();

 private:
  struct Target {
    const RotationTargetPolicy* policy;
    CredentialTarget* kind;
  };
  absl::StatusOr<Target> TargetAt(std::string_view path) const;
  // Rotate's work once the caller may: audited as by `by`, `why`.
  absl::StatusOr<int64_t> RotateNow(std::string_view path, std::string_view by, std::string_view why);
  absl::Status MayRotate(const Identity& who, std::string_view path) const;
  // The stored row of `path`, or a new one with its first times scheduled.
  absl::StatusOr<RotationRow> RowOf(const RotationTargetPolicy& t);
  int64_t NextRotation(const RotationTargetPolicy& t, int64_t from) const;

  // The steps below REQUIRE mu_.
  // pending -> change -> verify -> commit. `force`: the current value is not used (Reset).
  absl::StatusOr<int64_t> RotateLocked(const Target& t, RotationRow& row, std::string_view by,
                                       std::string_view why, bool force);
  // Resolves `row`'s pending value (see the file comment); returns the committed version, or
  // the error that left it unresolved (row updated and stored either way). `change_error`: why
  // the change itself failed, if it did.
  absl::StatusOr<int64_t> ResolveLocked(const Target& t, RotationRow& row,
                                        const absl::Status& change_error);
  absl::StatusOr<int64_t> CommitLocked(const Target& t, RotationRow& row, const SecretBytes& value);
  // A failed rotation: counted, retried with backoff, alerted.
  absl::Status FailLocked(RotationRow& row, const absl::Status& error);
  // A break: drifted, a critical alert.
  absl::Status DriftLocked(RotationRow& row, std::string_view how);
  ReconcileResult ReconcileLocked(const Target& t, RotationRow& row, std::string_view by);

  const Policy& policy_;
  RotationStore& store_;
  Vault& vault_;
  AuditLog& audit_;
  const Clock& clock_;
  std::map<std::string, CredentialTarget*, std::less<>> kinds_;
  // One rotation or reconciliation at a time: each is a few round trips to a target.
  std::mutex mu_;
};

}  // namespace warden
