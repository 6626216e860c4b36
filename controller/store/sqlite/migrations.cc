#include "controller/store/sqlite/migrations.h"

#include "common/strings.h"

namespace warden::sqlite {
namespace {

// Version 1: the schema as the controller made it before versions. Such a database (version 0)
// may hold any earlier state of these tables, hence IF NOT EXISTS and the added columns.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, totp_secret TEXT NOT NULL,
  totp_last_step INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS requests (
  id TEXT PRIMARY KEY, requester TEXT NOT NULL, role TEXT NOT NULL, reason TEXT NOT NULL,
  ttl INTEGER NOT NULL, state TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL,
  grant_id TEXT NOT NULL DEFAULT '', decided_by TEXT NOT NULL DEFAULT '',
  note TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS approvals (
  request_id TEXT NOT NULL REFERENCES requests(id), approver TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (request_id, approver));
CREATE TABLE IF NOT EXISTS grants (
  id TEXT PRIMARY KEY, request_id TEXT NOT NULL, user TEXT NOT NULL, role TEXT NOT NULL,
  login TEXT NOT NULL, tier INTEGER NOT NULL, start INTEGER NOT NULL, end_ INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL DEFAULT 0, revoked_by TEXT NOT NULL DEFAULT '',
  uid INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS grants_login ON grants(login);
CREATE TABLE IF NOT EXISTS certs (
  serial INTEGER PRIMARY KEY, key_id TEXT NOT NULL, fingerprint TEXT NOT NULL,
  grant_id TEXT NOT NULL, ca_key BLOB NOT NULL, valid_after INTEGER NOT NULL,
  valid_before INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS certs_grant ON certs(grant_id);
CREATE TABLE IF NOT EXISTS ca_keys (
  label TEXT PRIMARY KEY, purpose TEXT NOT NULL, tier INTEGER NOT NULL, public_key BLOB NOT NULL,
  state TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS join_tokens (
  hash TEXT PRIMARY KEY, tier INTEGER NOT NULL, labels TEXT NOT NULL, created INTEGER NOT NULL,
  expires INTEGER NOT NULL, created_by TEXT NOT NULL, used_at INTEGER NOT NULL DEFAULT 0,
  used_by TEXT NOT NULL DEFAULT '', hostnames TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS hosts (
  id TEXT PRIMARY KEY, hostname TEXT NOT NULL, tier INTEGER NOT NULL, labels TEXT NOT NULL,
  enrolled INTEGER NOT NULL, cert_expires INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS account_groups (name TEXT PRIMARY KEY, gid INTEGER NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS recordings (
  session_id TEXT PRIMARY KEY, host_id TEXT NOT NULL, user TEXT NOT NULL, service TEXT NOT NULL,
  tty TEXT NOT NULL, rhost TEXT NOT NULL, started_ns INTEGER NOT NULL,
  ended_ns INTEGER NOT NULL DEFAULT 0, chunks INTEGER NOT NULL DEFAULT 0, last_hash BLOB NOT NULL,
  lost_bytes INTEGER NOT NULL DEFAULT 0, seal BLOB NOT NULL DEFAULT x'',
  grant_id TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS recording_chunks (
  session_id TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL, hash BLOB NOT NULL,
  PRIMARY KEY (session_id, seq));
CREATE TABLE IF NOT EXISTS recording_commands (
  session_id TEXT NOT NULL, seq INTEGER NOT NULL, argv TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS recording_commands_session ON recording_commands(session_id);
CREATE TABLE IF NOT EXISTS recording_alerts (
  session_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS recording_alerts_session ON recording_alerts(session_id);
CREATE TABLE IF NOT EXISTS audit_anchor (
  id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL,
  signature BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS vault_seal (
  id INTEGER PRIMARY KEY CHECK (id = 1), mode TEXT NOT NULL, set_id INTEGER NOT NULL,
  shares INTEGER NOT NULL, threshold INTEGER NOT NULL, wrapped_root BLOB NOT NULL,
  check_blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS vault_versions (
  path TEXT NOT NULL, version INTEGER NOT NULL, created INTEGER NOT NULL,
  created_by TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
  destroyed INTEGER NOT NULL DEFAULT 0, used INTEGER NOT NULL DEFAULT 0,
  wrapped_key BLOB NOT NULL, ciphertext BLOB NOT NULL, PRIMARY KEY (path, version));
CREATE TABLE IF NOT EXISTS vault_wraps (
  accessor TEXT PRIMARY KEY, token_hash BLOB NOT NULL UNIQUE, path TEXT NOT NULL,
  version INTEGER NOT NULL, requester TEXT NOT NULL, created INTEGER NOT NULL,
  expires INTEGER NOT NULL, approvals_required INTEGER NOT NULL, approver_groups TEXT NOT NULL,
  unwrapped INTEGER NOT NULL DEFAULT 0, checkout INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS vault_authorizations (
  accessor TEXT NOT NULL, approver TEXT NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (accessor, approver));
CREATE TABLE IF NOT EXISTS vault_checkouts (
  path TEXT PRIMARY KEY, holder TEXT NOT NULL, version INTEGER NOT NULL, since INTEGER NOT NULL,
  until INTEGER NOT NULL);
)sql";

absl::Status AddColumnIfMissing(Database& db, const char* table, const char* column,
                                const char* definition) {
  const std::string query = StrCat("SELECT 1 FROM pragma_table_info('", table, "') WHERE name=?");
  bool found = false;
  {
    // Reset before the ALTER TABLE below.
    ASSIGN_OR_RETURN(Stmt s, db.Prepare(query.c_str()));
    ASSIGN_OR_RETURN(found, s.Bind(1, column).Step());
  }
  if (found) return absl::OkStatus();
  return db.Exec(StrCat("ALTER TABLE ", table, " ADD COLUMN ", definition).c_str());
}

absl::Status CreateSchemaV1(Database& db) {
  RETURN_IF_ERROR(db.Exec(kSchemaV1));
  // A column added after its table's first release.
  return AddColumnIfMissing(db, "join_tokens", "hostnames", "hostnames TEXT NOT NULL DEFAULT '[]'");
}

// Version 2: leases of dynamic database credentials.
absl::Status AddDbLeases(Database& db) {
  return db.Exec(R"sql(
CREATE TABLE db_leases (
  id TEXT PRIMARY KEY, role TEXT NOT NULL, connection TEXT NOT NULL, username TEXT NOT NULL,
  owner TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL,
  max_expires INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '');
CREATE INDEX db_leases_live ON db_leases(revoked, expires);
)sql");
}

// Version 3: the state of rotation targets.
absl::Status AddRotations(Database& db) {
  return db.Exec(R"sql(
CREATE TABLE rotations (
  path TEXT PRIMARY KEY, status TEXT NOT NULL, drifted_since INTEGER NOT NULL,
  last_rotated INTEGER NOT NULL, next_rotation INTEGER NOT NULL,
  last_reconciled INTEGER NOT NULL, next_reconcile INTEGER NOT NULL, failures INTEGER NOT NULL,
  next_attempt INTEGER NOT NULL, last_error TEXT NOT NULL, pending_since INTEGER NOT NULL,
  pending_by TEXT NOT NULL, pending_why TEXT NOT NULL, pending_key BLOB NOT NULL,
  pending_value BLOB NOT NULL);
)sql");
}

// Version 4: gateways enroll like hosts; a join token and a host record say which they are.
absl::Status AddHostKinds(Database& db) {
  RETURN_IF_ERROR(db.Exec("ALTER TABLE join_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'host'"));
  return db.Exec("ALTER TABLE hosts ADD COLUMN kind TEXT NOT NULL DEFAULT 'host'");
}

// Version 5: discovery, each host's inventory and the logins that did not go through Warden.
absl::Status AddInventories(Database& db) {
  return db.Exec(R"sql(
CREATE TABLE host_inventory (
  host_id TEXT PRIMARY KEY, reported INTEGER NOT NULL, inventory TEXT NOT NULL);
CREATE TABLE host_logins (
  host_id TEXT NOT NULL, key TEXT NOT NULL, user TEXT NOT NULL, line TEXT NOT NULL,
  rhost TEXT NOT NULL, kind TEXT NOT NULL, at_us INTEGER NOT NULL, pid INTEGER NOT NULL,
  received INTEGER NOT NULL, PRIMARY KEY (host_id, key));
CREATE INDEX host_logins_at ON host_logins(at_us);
)sql");
}

// Version 6: fleet enrollment, a join token for several hosts; a host enrolled again under its
// name replaces the old identity.
absl::Status AddFleetEnrollment(Database& db) {
  return db.Exec(R"sql(
ALTER TABLE join_tokens ADD COLUMN uses INTEGER NOT NULL DEFAULT 1;
ALTER TABLE join_tokens ADD COLUMN used_count INTEGER NOT NULL DEFAULT 0;
UPDATE join_tokens SET used_count=1 WHERE used_at!=0;
ALTER TABLE hosts ADD COLUMN replaced_by TEXT NOT NULL DEFAULT '';
)sql");
}

constexpr Migration kMigrations[] = {
    {"create the tables (or complete those of a database made before schema versions)",
     CreateSchemaV1},
    {"add db_leases", AddDbLeases},
    {"add rotations", AddRotations},
    {"add the kind of join tokens and hosts (host, gateway)", AddHostKinds},
    {"add host inventories and logins outside Warden", AddInventories},
    {"add join tokens for several hosts, and hosts replaced by a new enrollment", AddFleetEnrollment},
};

absl::StatusOr<int> ReadVersion(Database& db) {
  ASSIGN_OR_RETURN(Stmt s, db.Prepare("PRAGMA user_version"));
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::InternalError("PRAGMA user_version returned no row");
  return static_cast<int>(s.Int(0));
}

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

absl::StatusOr<int> CheckSchemaVersion(Database& db, std::span<const Migration> migrations) {
  auto lock = db.Lock();
  ASSIGN_OR_RETURN(int version, ReadVersion(db));
  const int known = static_cast<int>(migrations.size());
  if (version > known) {
    return absl::FailedPreconditionError(
        StrCat("database schema version ", version, " is newer than this controller (knows up to ",
               known, "): upgrade warden-controller, or restore a backup made by this version"));
  }
  if (version < 0) {
    return absl::DataLossError(StrCat("database schema version ", version,
                                      " is negative: this is not a warden-controller database"));
  }
  return version;
}

absl::Status Migrate(Database& db, std::span<const Migration> migrations) {
  ASSIGN_OR_RETURN(Transaction tx, db.Begin());
  // Read again under the write lock: another process may have migrated since the caller looked.
  ASSIGN_OR_RETURN(const int version, CheckSchemaVersion(db, migrations));
  if (version == static_cast<int>(migrations.size())) return absl::OkStatus();
  for (size_t i = static_cast<size_t>(version); i < migrations.size(); i++) {
    if (absl::Status st = migrations[i].apply(db); !st.ok()) {
      return absl::Status(st.code(),
                          StrCat("migrating the database to schema version ", i + 1, " (",
                                 migrations[i].what, ") failed, nothing changed: ", st.message()));
    }
  }
  RETURN_IF_ERROR(db.Exec(StrCat("PRAGMA user_version=", migrations.size()).c_str()));
  return tx.Commit();
}

}  // namespace warden::sqlite
