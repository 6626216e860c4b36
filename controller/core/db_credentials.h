// Dynamic database credentials: a role that exists only while its lease lives.
//
// `Issue` creates a brand-new role with a random password on the role's connection (the
// policy's `databases:`), running its creation statements as the connection's admin, whose
// password Warden keeps in the vault. The lease is written before the role is created, so no role
// Warden made is ever without a lease that will drop it: if creation fails, the revocation
// statements run at once. `RevokeExpired` (the controller calls it every second, and at start,
// so leases that ran out while it was down end first) runs the revocation statements of every
// lease whose time is up; a revocation that fails is retried with backoff (1 s doubling to 5 min)
// and every failure is an alert in the audit log: a lease is never counted as ended until its
// role is gone. `Orphans` lists roles on a connection that look like Warden's (a role's username
// prefix) and that no live lease owns.
//
// Values substituted into statements: {{name}} as a quoted identifier, {{password}} and
// {{expiration}} as quoted literals (standard_conforming_strings on); templates are refused at
// policy load if they quote a placeholder themselves (db_policy.h).
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "controller/core/audit_log.h"
#include "controller/core/clock.h"
#include "controller/core/identity.h"
#include "controller/core/policy.h"
#include "controller/core/rotation.h"
#include "controller/core/vault.h"
#include "controller/store/db_lease_store.h"

namespace warden {

// Runs statements on a database as its admin. PostgreSQL's is controller/db/postgres_driver.h.
class DatabaseDriver {
 public:
  virtual ~DatabaseDriver() = default;
  // Runs `statements` in one transaction, in order; all or nothing.
  virtual absl::Status Execute(const DbConnectionPolicy& c, const SecretBytes& admin_password,
                               const std::vector<std::string>& statements) = 0;
  // Login roles whose name starts with `prefix`.
  virtual absl::StatusOr<std::vector<std::string>> ListRoles(const DbConnectionPolicy& c,
                                                             const SecretBytes& admin_password,
                                                             std::string_view prefix) = 0;
  // Sets `role`'s password, as the admin (who may be `role` itself: rotate-root).
  virtual absl::Status SetPassword(const DbConnectionPolicy& c, const SecretBytes& admin_password,
                                   std::string_view role, const SecretBytes& password) = 0;
  // Logs in as `user` with `password` on a connection of its own. OK; PERMISSION_DENIED: the
  // server refused the password; UNAVAILABLE: no answer, or any other failure.
  virtual absl::Status Authenticate(const DbConnectionPolicy& c, std::string_view user,
                                    const SecretBytes& password) = 0;
};

// The PostgreSQL roles of rotation targets of kind postgres (rotation_policy.h): a role's
// password is set by the connection's admin (whose own password is in the vault); the admin's
// own (rotate-root) is set by itself, with the current one.
class PostgresRoleTarget final : public CredentialTarget {
 public:
  PostgresRoleTarget(const Policy& policy, Vault& vault, DatabaseDriver& driver)
      : policy_(policy), vault_(vault), driver_(driver) {}
  absl::Status Change(const RotationTargetPolicy& t, const SecretBytes* current,
                      const SecretBytes& next) override;
  absl::Status Verify(const RotationTargetPolicy& t, const SecretBytes& value) override;
  bool SetsWithoutCurrent(const RotationTargetPolicy& t) const override;

 private:
  absl::StatusOr<const DbConnectionPolicy*> ConnectionOf(const RotationTargetPolicy& t) const;
  const Policy& policy_;
  Vault& vault_;
  DatabaseDriver& driver_;
};

// Leases one expiry pass takes on; the controller runs the next pass at once while passes come
// back full, else a second later.
inline constexpr int kLeasesPerPass = 1000;

struct DbCredential {
  DbLeaseRow lease;
  SecretBytes password;
};

// What a substituted statement holds: the values, quoted for PostgreSQL.
std::string QuoteIdentifier(std::string_view name);
std::string QuoteLiteral(std::string_view value);
// `statement` with {{name}} (an identifier), {{name_literal}} (the same name as a string
// literal, for WHERE usename = ...), {{password}}, {{expiration}} replaced. REQUIRES: the template
// passed CheckStatementTemplate.
std::string RenderStatement(std::string_view statement, std::string_view name,
                            std::string_view password, int64_t expiration);

class DatabaseCredentials {
 public:
  DatabaseCredentials(const Policy& policy, DbLeaseStore& store, Vault& vault,
                      DatabaseDriver& driver, AuditLog& audit, const Clock& clock)
      : policy_(policy), store_(store), vault_(vault), driver_(driver), audit_(audit),
        clock_(clock) {}

  // A new role of `role` for `who`, for `ttl` seconds (0: the role's default_ttl; capped by
  // its max_ttl).
  absl::StatusOr<DbCredential> Issue(const Identity& who, std::string_view role, int64_t ttl);
  // Extends the lease by `increment` seconds from now (0: the role's default_ttl), never past
  // its max_ttl from creation; runs the renew statements. The owner or an admin.
  absl::StatusOr<DbLeaseRow> Renew(const Identity& who, std::string_view lease_id,
                                   int64_t increment);
  // Drops the role now. The owner or an admin. A failure leaves the lease due, retried.
  absl::Status Revoke(const Identity& who, std::string_view lease_id);
  // Every live lease whose id starts with `prefix` (e.g. "db/readonly/"): admins only. Returns
  // how many were revoked; fails naming those that were not (they are retried).
  absl::StatusOr<int> RevokePrefix(const Identity& who, std::string_view prefix);
  // Live leases: an admin's view has everyone's, anyone else's their own.
  absl::StatusOr<std::vector<DbLeaseRow>> List(const Identity& who);
  // Admins only.
  absl::StatusOr<std::vector<std::string>> Orphans(const Identity& who,
                                                   std::string_view connection);
  // Revokes up to `limit` leases whose time is up (and failed ones whose retry is due). Returns
  // how many were revoked.
  absl::StatusOr<int> RevokeExpired(int limit = kLeasesPerPass);

 private:
  struct Target {
    const DbRolePolicy* role;
    const DbConnectionPolicy* connection;
  };
  absl::StatusOr<Target> TargetOf(std::string_view role) const;
  // The lease's own role and connection, as the policy has them now; an error if either is gone
  // or the role moved to another connection (its statements would run on the wrong server).
  absl::StatusOr<Target> TargetOf(const DbLeaseRow& lease) const;
  absl::StatusOr<DbLeaseRow> OwnedLease(const Identity& who, std::string_view lease_id);
  // Runs the revocation statements and marks the lease revoked, or notes the failure (backoff,
  // alert). `why`: "revoked by NAME", "expired". `known_failure`: the connection already failed
  // in this pass, recorded without trying again.
  absl::Status RevokeLease(const DbLeaseRow& lease, std::string_view why,
                           const absl::Status& known_failure = absl::OkStatus());
  // Leases whose role is being created right now: no revocation runs for them until the
  // creation has returned (their DROP could otherwise run first and the CREATE after it).
  bool Creating(std::string_view lease_id);

  const Policy& policy_;
  DbLeaseStore& store_;
  Vault& vault_;
  DatabaseDriver& driver_;
  AuditLog& audit_;
  const Clock& clock_;
  std::mutex mu_;
  std::set<std::string> creating_;  // guarded by mu_
};

}  // namespace warden
