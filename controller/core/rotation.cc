#include "controller/core/rotation.h"

#include <algorithm>

#include "common/crypto.h"
#include "common/strings.h"

namespace warden {
namespace {

// Keeps check-outs of a path away (Vault::BeginRotation) for as long as a rotation runs and its
// new value is pending; released once the row holds nothing pending.
class RotatingGuard {
 public:
  RotatingGuard(Vault& vault, const RotationRow& row) : vault_(vault), row_(row) {}
  ~RotatingGuard() { vault_.SetRotating(row_.path, row_.pending_since != 0); }
  RotatingGuard(const RotatingGuard&) = delete;
  RotatingGuard& operator=(const RotatingGuard&) = delete;

 private:
  Vault& vault_;
  const RotationRow& row_;
};

// Failed rotations are retried after 30 s, doubling up to an hour.
constexpr int64_t kFirstRetry = 30;
constexpr int64_t kMaxRetry = 3600;
// A target that could not be reached is reconciled again within this, not a whole period later.
constexpr int64_t kUnreachableRecheck = 300;

int64_t RandomBelow(int64_t n) { return n > 0 ? static_cast<int64_t>(RandomU64() % n) : 0; }

bool PrefixOf(std::string_view prefix, std::string_view path) {
  return path.substr(0, prefix.size()) == prefix;
}

void DropPending(RotationRow& row) {
  row.pending_since = 0;
  row.pending_by.clear();
  row.pending_why.clear();
  row.pending_key.clear();
  row.pending_value.clear();
}

}  // namespace

absl::StatusOr<CredentialRotation::Target> CredentialRotation::TargetAt(std::string_view path) const {
  const RotationTargetPolicy* t = policy_.rotation.TargetFor(path);
  if (!t)
    return absl::NotFoundError(StrCat(path, " is not a rotation target (the policy's "
                                            "rotation.targets, or a database connection's "
                                            "admin_password)"));
  auto k = kinds_.find(t->kind);
  if (k == kinds_.end())
    return absl::FailedPreconditionError(StrCat("this controller cannot change ", t->kind,
                                                " passwords"));
  return Target{t, k->second};
}

absl::Status CredentialRotation::MayRotate(const Identity& who, std::string_view path) const {
  if (who.host_id.empty()) {
    if (policy_.IsAdmin(who.user)) return absl::OkStatus();
    const VaultPathPolicy* vp = policy_.VaultPathFor(path);
    if (vp) {
      auto it = vp->capabilities.find("rotate");
      if (it != vp->capabilities.end() && policy_.InAnyGroup(who.user, it->second))
        return absl::OkStatus();
    }
  }
  return absl::PermissionDeniedError(StrCat(who.user, " may not rotate ", path,
                                            " (admins may, and the groups of its vault path's "
                                            "rotate capability)"));
}

int64_t CredentialRotation::NextRotation(const RotationTargetPolicy& t, int64_t from) const {
  if (t.period <= 0) return 0;
  return from + t.period - RandomBelow(t.jitter + 1);
}

absl::StatusOr<RotationRow> CredentialRotation::RowOf(const RotationTargetPolicy& t) {
  ASSIGN_OR_RETURN(std::optional<RotationRow> row, store_.GetRotation(t.path));
  if (row) return *std::move(row);
  // Taken over now: a first scheduled rotation one period on (`wardenctl vault rotate` for one
  // at once), a first reconciliation within five minutes, spread so that targets added together
  // are not checked together.
  const int64_t now = clock_.Now();
  RotationRow fresh;
  fresh.path = t.path;
  fresh.next_rotation = NextRotation(t, now);
  fresh.next_reconcile = now + RandomBelow(std::min<int64_t>(t.reconcile_every, kUnreachableRecheck));
  return fresh;
}

absl::Status CredentialRotation::FailLocked(RotationRow& row, const absl::Status& error) {
  const int64_t now = clock_.Now();
  row.failures++;
  row.next_attempt = now + std::min(kFirstRetry << std::min(row.failures - 1, 12), kMaxRetry);
  row.last_error = std::string(error.message());
  // Paged first: a store that cannot be written (a full disk) must not also swallow the alert.
  absl::Status logged = audit_.Append({{"event", "vault.rotate_failed"}, {"alert", true},
                                       {"severity", "warning"}, {"path", row.path},
                                       {"error", row.last_error}, {"attempts", row.failures},
                                       {"next_attempt", row.next_attempt},
                                       {"pending", row.pending_since != 0}})
                             .status();
  RETURN_IF_ERROR(store_.PutRotation(row));
  RETURN_IF_ERROR(logged);
  return error;
}

absl::Status CredentialRotation::DriftLocked(RotationRow& row, std::string_view how) {
  const int64_t now = clock_.Now();
  row.status = "drifted";
  row.drifted_since = now;
  row.last_error = std::string(how);
  RETURN_IF_ERROR(store_.PutRotation(row));
  RETURN_IF_ERROR(audit_.Append({{"event", "vault.reconcile_break"}, {"alert", true},
                                 {"severity", "critical"}, {"path", row.path},
                                 {"detail", row.last_error}})
                      .status());
  return absl::FailedPreconditionError(
      StrCat("reconcile break on ", row.path, ": ", how,
             ". It is marked drifted; investigate who changed it, then wardenctl vault reset ",
             row.path));
}

absl::StatusOr<int64_t> CredentialRotation::CommitLocked(const Target& t, RotationRow& row,
                                                         const SecretBytes& value) {
  const int64_t now = clock_.Now();
  RotationRow done = row;
  DropPending(done);
  done.last_rotated = now;
  done.next_rotation = NextRotation(*t.policy, now);
  done.failures = 0;
  done.next_attempt = 0;
  done.last_error.clear();
  int64_t version = 0;
  {
    ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
    ASSIGN_OR_RETURN(version, vault_.InsertVersionInTransaction(row.path, value.span(), row.pending_by));
    RETURN_IF_ERROR(store_.PutRotation(done));
    RETURN_IF_ERROR(tx.Commit());
  }
  RETURN_IF_ERROR(audit_.Append({{"event", "vault.rotated"}, {"path", row.path},
                                 {"version", version}, {"by", row.pending_by},
                                 {"why", row.pending_why}})
                      .status());
  row = std::move(done);
  return version;
}

absl::StatusOr<int64_t> CredentialRotation::ResolveLocked(const Target& t, RotationRow& row,
                                                          const absl::Status& change_error) {
  const std::string because =
      change_error.ok() ? "" : StrCat(" (the change failed: ", change_error.message(), ")");
  ASSIGN_OR_RETURN(SecretBytes next,
                   vault_.OpenPending(row.path, SealedValue{row.pending_key, row.pending_value}));
  const absl::Status next_ok = t.kind->Verify(*t.policy, next);
  if (next_ok.ok()) {
    absl::StatusOr<int64_t> version = CommitLocked(t, row, next);
    if (version.ok()) return version;
    // The target has the new password and the vault does not yet: kept pending, retried.
    return FailLocked(row, absl::Status(version.status().code(),
                                        StrCat("the new password of ", row.path, " logs in but "
                                               "could not be stored: ", version.status().message(),
                                               "; it is kept pending and stored again")));
  }
  if (!absl::IsPermissionDenied(next_ok)) {
    return FailLocked(row, absl::UnavailableError(StrCat(
                               "the new password of ", row.path, " could not be checked: ",
                               next_ok.message(), because, "; it is kept pending and tried again")));
  }
  // The new value is refused: does the vaulted one still work (the target never changed)?
  absl::StatusOr<Vault::Current> current = vault_.CurrentForController(row.path);
  const absl::Status current_ok =
      current.ok() ? t.kind->Verify(*t.policy, current->value) : current.status();
  if (absl::IsDeadlineExceeded(change_error)) {
    // The change may still land (a device committing slowly): neither value is dropped yet.
    return FailLocked(row, absl::DeadlineExceededError(StrCat(
                               change_error.message(), "; the new password is kept pending and "
                               "tried again")));
  }
  if (current_ok.ok() ||
      (absl::IsNotFound(current_ok) && t.kind->SetsWithoutCurrent(*t.policy))) {
    DropPending(row);
    return FailLocked(row, change_error.ok()
                               ? absl::AbortedError(StrCat(
                                     "the new password of ", row.path, " is refused and ",
                                     current_ok.ok() ? "the vaulted one logs in" : "none is vaulted",
                                     ": the target was not changed (stopped before the change, "
                                     "or the change had no effect)"))
                               : change_error);
  }
  if (absl::IsPermissionDenied(current_ok) || absl::IsNotFound(current_ok)) {
    DropPending(row);
    return DriftLocked(row, StrCat("neither the vaulted password nor the one being set logs in",
                                   because));
  }
  return FailLocked(row, absl::UnavailableError(StrCat(
                             "the new password of ", row.path, " is refused and the vaulted one "
                             "could not be checked: ", current_ok.message(), because,
                             "; it is kept pending and tried again")));
}

absl::StatusOr<int64_t> CredentialRotation::RotateLocked(const Target& t, RotationRow& row,
                                                         std::string_view by, std::string_view why,
                                                         bool force) {
  std::optional<Vault::Current> current;
  if (!force) {
    absl::StatusOr<Vault::Current> c = vault_.CurrentForController(row.path);
    if (c.ok()) {
      current = *std::move(c);
    } else if (!absl::IsNotFound(c.status())) {
      return FailLocked(row, c.status());
    }
  }
  if (current) {
    // Proven before it is replaced: a value changed behind Warden's back is a break to look
    // into, never something a rotation quietly papers over.
    const absl::Status ok = t.kind->Verify(*t.policy, current->value);
    if (absl::IsPermissionDenied(ok))
      return DriftLocked(row, StrCat(t.policy->user, " refuses the vaulted password (version ",
                                     current->version, ")"));
    if (!ok.ok()) return FailLocked(row, ok);
  } else if (!t.kind->SetsWithoutCurrent(*t.policy)) {
    return FailLocked(row, absl::FailedPreconditionError(StrCat(
                               "no secret at ", row.path, ": Warden cannot change ",
                               t.policy->user, "'s password without the current one; put it first "
                               "(wardenctl vault put ", row.path, ")")));
  }
  SecretBytes next = GeneratePassword(t.policy->password);
  absl::StatusOr<SealedValue> sealed = vault_.SealPending(row.path, next.span());
  if (!sealed.ok()) return FailLocked(row, sealed.status());
  RotationRow pending = row;
  pending.pending_since = clock_.Now();
  pending.pending_by = std::string(by);
  pending.pending_why = std::string(why);
  pending.pending_key = std::move(sealed->key);
  pending.pending_value = std::move(sealed->value);
  // Durable before the target changes: a crash from here on is resolved from this row.
  if (absl::Status st = store_.PutRotation(pending); !st.ok()) {
    return FailLocked(row, absl::Status(st.code(), StrCat("the new password could not be written "
                                                          "down before the change, nothing was "
                                                          "changed: ", st.message())));
  }
  row = std::move(pending);
  const absl::Status changed =
      t.kind->Change(*t.policy, current ? &current->value : nullptr, next);
  return ResolveLocked(t, row, changed);
}

absl::StatusOr<int> CredentialRotation::Recover() {
  ASSIGN_OR_RETURN(std::vector<RotationRow> rows, store_.ListRotations());
  // First of all, no check-out of a value that a pending one may have replaced.
  for (const RotationRow& listed : rows) {
    if (listed.pending_since != 0) vault_.SetRotating(listed.path, true);
  }
  int resolved = 0;
  for (const RotationRow& listed : rows) {
    if (listed.pending_since == 0) continue;
    absl::StatusOr<Target> t = TargetAt(listed.path);
    if (!t.ok()) continue;  // no longer a target: its pending value stays for a person to see
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(std::optional<RotationRow> row, store_.GetRotation(listed.path));
    if (!row || row->pending_since == 0) continue;
    RETURN_IF_ERROR(audit_.Append({{"event", "vault.rotation_recovery"}, {"path", row->path},
                                   {"pending_since", row->pending_since}})
                        .status());
    // Resolved, or kept pending for the next pass (alerted either way).
    RotatingGuard guard(vault_, *row);
    if (ResolveLocked(*t, *row, absl::OkStatus()).ok()) resolved++;
  }
  return resolved;
}

absl::StatusOr<int64_t> CredentialRotation::Rotate(const Identity& who, std::string_view path) {
  RETURN_IF_ERROR(MayRotate(who, path));
  return RotateNow(path, who.user, "on demand");
}

absl::StatusOr<int64_t> CredentialRotation::RotateAfterSession(std::string_view path,
                                                               std::string_view by) {
  return RotateNow(path, by, "after use");
}

absl::StatusOr<int64_t> CredentialRotation::RotateNow(std::string_view path, std::string_view by,
                                                      std::string_view why) {
  ASSIGN_OR_RETURN(Target t, TargetAt(path));
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(RotationRow row, RowOf(*t.policy));
  if (row.status == "drifted")
    return absl::FailedPreconditionError(
        StrCat(path, " has drifted since ", UtcText(row.drifted_since), " (", row.last_error,
               "): investigate, then wardenctl vault reset ", path));
  RETURN_IF_ERROR(audit_.Append({{"event", "vault.rotate"}, {"path", std::string(path)},
                                 {"by", std::string(by)}, {"why", std::string(why)}})
                      .status());
  if (row.pending_since) {
    // An earlier rotation that did not finish: settled first.
    RotatingGuard guard(vault_, row);
    absl::StatusOr<int64_t> settled = ResolveLocked(t, row, absl::OkStatus());
    if (!settled.ok()) return settled.status();
  }
  RETURN_IF_ERROR(vault_.BeginRotation(path));
  RotatingGuard guard(vault_, row);
  return RotateLocked(t, row, by, why, false);
}

ReconcileResult CredentialRotation::ReconcileLocked(const Target& t, RotationRow& row,
                                                    std::string_view by) {
  const int64_t now = clock_.Now();
  ReconcileResult out{row.path, "", ""};
  if (row.pending_since) {
    RotatingGuard guard(vault_, row);
    absl::StatusOr<int64_t> settled = ResolveLocked(t, row, absl::OkStatus());
    if (!settled.ok() && row.status != "drifted") return {row.path, "unreachable", std::string(settled.status().message())};
  }
  if (row.status == "drifted") {
    return {row.path, "drifted",
            StrCat("drifted since ", UtcText(row.drifted_since), ": ", row.last_error,
                   "; wardenctl vault reset ", row.path, " after investigation")};
  }
  row.next_reconcile = now + t.policy->reconcile_every;
  absl::StatusOr<Vault::Current> current = vault_.CurrentForController(row.path);
  absl::Status st = current.ok() ? t.kind->Verify(*t.policy, current->value) : current.status();
  if (st.ok()) {
    row.last_reconciled = now;
    if (row.failures == 0) row.last_error.clear();
    if (absl::Status put = store_.PutRotation(row); !put.ok())
      return {row.path, "unreachable", StrCat("the result could not be stored: ", put.message())};
    absl::Status logged = audit_.Append({{"event", "vault.reconciled"}, {"path", row.path},
                                         {"version", current->version},
                                         {"by", std::string(by)}})
                              .status();
    if (!logged.ok()) return {row.path, "unreachable", std::string(logged.message())};
    return {row.path, "ok", StrCat("version ", current->version, " logs in as ", t.policy->user)};
  }
  if (absl::IsPermissionDenied(st)) {
    absl::Status drift = DriftLocked(row, StrCat(t.policy->user, " refuses the vaulted password (version ",
                                                 current->version, "): changed out of band"));
    return {row.path, "break", std::string(drift.message())};
  }
  const bool missing = absl::IsNotFound(st);
  // Paged when it starts failing; while it goes on, each check is in the audit log only.
  const bool first = row.last_error.empty();
  row.last_error = std::string(st.message());
  // A target that did not answer is looked at again soon; a path with nothing vaulted waits for
  // a person, and is not paged about more than once a period.
  row.next_reconcile = now + (missing ? t.policy->reconcile_every
                                      : std::min(t.policy->reconcile_every, kUnreachableRecheck));
  std::string detail(st.message());
  absl::Status put = store_.PutRotation(row);
  nlohmann::json event = {{"event", "vault.reconcile_failed"}, {"path", row.path},
                          {"error", detail}};
  if (first) {
    event["alert"] = true;
    event["severity"] = "warning";
  }
  absl::Status logged = audit_.Append(std::move(event)).status();
  if (!put.ok()) detail += StrCat("; the result could not be stored: ", put.message());
  if (!logged.ok()) detail += StrCat("; ", logged.message());
  return {row.path, missing ? "missing" : "unreachable", detail};
}

absl::StatusOr<std::vector<ReconcileResult>> CredentialRotation::Reconcile(const Identity& who,
                                                                          std::string_view prefix) {
  std::vector<const RotationTargetPolicy*> chosen;
  if (const RotationTargetPolicy* exact = policy_.rotation.TargetFor(prefix)) {
    RETURN_IF_ERROR(MayRotate(who, prefix));
    chosen.push_back(exact);
  } else {
    for (const auto& [path, t] : policy_.rotation.targets) {
      if (PrefixOf(prefix, path) && MayRotate(who, path).ok()) chosen.push_back(&t);
    }
  }
  if (chosen.empty())
    return absl::NotFoundError(StrCat("no rotation target at or below \"", prefix, "\" that ",
                                      who.user, " may reconcile"));
  RETURN_IF_ERROR(audit_.Append({{"event", "vault.reconcile"}, {"prefix", std::string(prefix)},
                                 {"by", who.user}, {"targets", chosen.size()}})
                      .status());
  std::vector<ReconcileResult> out;
  for (const RotationTargetPolicy* tp : chosen) {
    absl::StatusOr<Target> t = TargetAt(tp->path);
    if (!t.ok()) {
      out.push_back({tp->path, "unreachable", std::string(t.status().message())});
      continue;
    }
    std::lock_guard lock(mu_);
    absl::StatusOr<RotationRow> row = RowOf(*tp);
    if (!row.ok()) {
      out.push_back({tp->path, "unreachable", std::string(row.status().message())});
      continue;
    }
    out.push_back(ReconcileLocked(*t, *row, who.user));
  }
  return out;
}

absl::Status CredentialRotation::Reset(const Identity& who, std::string_view path) {
  if (!who.host_id.empty() || !policy_.IsAdmin(who.user))
    return absl::PermissionDeniedError(StrCat(who.user, " may not reset ", path, " (admins only)"));
  ASSIGN_OR_RETURN(Target t, TargetAt(path));
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(RotationRow row, RowOf(*t.policy));
  RETURN_IF_ERROR(audit_.Append({{"event", "vault.reset"}, {"path", std::string(path)},
                                 {"by", who.user}, {"was", row.status},
                                 {"detail", row.last_error}})
                      .status());
  if (row.pending_since) {
    RotatingGuard guard(vault_, row);
    absl::StatusOr<int64_t> settled = ResolveLocked(t, row, absl::OkStatus());
    if (!settled.ok() && row.status != "drifted") return settled.status();
  }
  if (row.status != "drifted")
    return absl::FailedPreconditionError(StrCat(path, " has not drifted: nothing to reset"));
  absl::StatusOr<Vault::Current> current = vault_.CurrentForController(path);
  const absl::Status st = current.ok() ? t.kind->Verify(*t.policy, current->value) : current.status();
  std::string how;
  if (st.ok()) {
    row.status = "ok";
    row.drifted_since = 0;
    row.failures = 0;
    row.next_attempt = 0;
    row.last_error.clear();
    row.last_reconciled = clock_.Now();
    row.next_reconcile = row.last_reconciled + t.policy->reconcile_every;
    RETURN_IF_ERROR(store_.PutRotation(row));
    how = StrCat("version ", current->version, " logs in again");
  } else if ((absl::IsPermissionDenied(st) || absl::IsNotFound(st)) &&
             t.kind->SetsWithoutCurrent(*t.policy)) {
    RotationRow attempt = row;
    attempt.status = "ok";
    attempt.drifted_since = 0;
    attempt.failures = 0;
    absl::StatusOr<int64_t> version = absl::UnknownError("not run");
    if (absl::Status began = vault_.BeginRotation(path); !began.ok()) {
      version = began;
    } else {
      RotatingGuard guard(vault_, attempt);
      version = RotateLocked(t, attempt, who.user, "reset", true);
    }
    if (!version.ok()) {
      // Still drifted, whatever the attempt left pending.
      ASSIGN_OR_RETURN(std::optional<RotationRow> stored, store_.GetRotation(path));
      RotationRow back = stored ? *stored : row;
      back.status = "drifted";
      back.drifted_since = row.drifted_since;
      RETURN_IF_ERROR(store_.PutRotation(back));
      return absl::Status(version.status().code(),
                          StrCat(path, " stays drifted: ", version.status().message()));
    }
    how = StrCat("Warden set a new password (version ", *version, ")");
  } else {
    return absl::FailedPreconditionError(StrCat(
        "the vaulted password of ", path, " does not log in (", st.message(),
        ") and Warden cannot set ", t.policy->user, "'s password without it: put the password "
        "the target has now (wardenctl vault put ", path, "), then reset again"));
  }
  return audit_.Append({{"event", "vault.reset_done"}, {"path", std::string(path)},
                        {"by", who.user}, {"how", how}})
      .status();
}

absl::StatusOr<std::vector<RotationStatus>> CredentialRotation::List(const Identity& who,
                                                                    std::string_view prefix) {
  std::vector<RotationStatus> out;
  for (const auto& [path, t] : policy_.rotation.targets) {
    if (!PrefixOf(prefix, path) || !MayRotate(who, path).ok()) continue;
    RotationStatus s;
    ASSIGN_OR_RETURN(s.row, RowOf(t));
    s.row.pending_key.clear();
    s.row.pending_value.clear();
    s.kind = t.kind;
    s.period = t.period;
    s.reconcile_every = t.reconcile_every;
    absl::StatusOr<Vault::Current> current = vault_.CurrentForController(path);
    if (current.ok()) s.version = current->version;
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<int> CredentialRotation::RunDue() {
  if (vault_.Status().sealed) return 0;  // nothing to read or seal: unsealing starts the passes
  int acted = 0;
  for (const auto& [path, tp] : policy_.rotation.targets) {
    absl::StatusOr<Target> t = TargetAt(path);
    if (!t.ok()) continue;
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(std::optional<RotationRow> stored, store_.GetRotation(path));
    ASSIGN_OR_RETURN(RotationRow row, RowOf(tp));
    if (!stored) RETURN_IF_ERROR(store_.PutRotation(row));
    const int64_t now = clock_.Now();
    if (row.pending_since) {
      // Also on a drifted target: the pending value may be the password.
      RotatingGuard guard(vault_, row);
      if (row.next_attempt <= now) {
        (void)ResolveLocked(*t, row, absl::OkStatus());  // alerted inside when it fails
        acted++;
      }
      continue;
    }
    if (row.status == "drifted") continue;  // until an admin resets it
    std::string why;
    if (row.next_rotation && row.next_rotation <= now) why = "scheduled";
    if (why.empty() && row.failures > 0) why = "retry";  // a rotation that failed, on demand too
    const VaultPathPolicy* vp = policy_.VaultPathFor(path);
    if (why.empty() && vp && vp->rotate_after_use) {
      absl::StatusOr<Vault::Current> current = vault_.CurrentForController(path);
      if (current.ok() && current->used) why = "after use";
    }
    absl::Status began = absl::FailedPreconditionError("not due");
    if (!why.empty() && row.next_attempt <= now) {
      began = vault_.BeginRotation(path);
      // Checked out: rotated after the check-in (and reconciled meanwhile).
      if (!began.ok() && !absl::IsFailedPrecondition(began)) return began;
    }
    if (began.ok()) {
      RotatingGuard guard(vault_, row);
      RETURN_IF_ERROR(audit_.Append({{"event", "vault.rotate"}, {"path", path},
                                     {"by", std::string(kRotationActor)}, {"why", why}})
                          .status());
      (void)RotateLocked(*t, row, kRotationActor, why, false);  // alerted inside when it fails
      acted++;
    } else if (row.next_reconcile <= now) {
      (void)ReconcileLocked(*t, row, kRotationActor);  // a break or failure is alerted inside
      acted++;
    }
  }
  return acted;
}

}  // namespace warden
