-- A database as the controller made it before schema versions (PRAGMA user_version 0): the
-- tables were created by Store::Open at commit 28e4f28 (`warden-controller init`), emptied, then
-- given one row each by hand; dumped with `sqlite3 warden.db .dump`. Do not edit: the migration
-- test proves that such a database upgrades in place.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE users (
  name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, totp_secret TEXT NOT NULL,
  totp_last_step INTEGER NOT NULL DEFAULT 0);
INSERT INTO users VALUES('alice','$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA','JBSWY3DPEHPK3PXP',59999999);
CREATE TABLE requests (
  id TEXT PRIMARY KEY, requester TEXT NOT NULL, role TEXT NOT NULL, reason TEXT NOT NULL,
  ttl INTEGER NOT NULL, state TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL,
  grant_id TEXT NOT NULL DEFAULT '', decided_by TEXT NOT NULL DEFAULT '',
  note TEXT NOT NULL DEFAULT '');
INSERT INTO requests VALUES('req-1','alice','tier0-linux-admin','CHG-1',1800,'approved',1800000000,1800003600,'grant-1','bob,carol','');
CREATE TABLE approvals (
  request_id TEXT NOT NULL REFERENCES requests(id), approver TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (request_id, approver));
INSERT INTO approvals VALUES('req-1','bob',1800000010);
INSERT INTO approvals VALUES('req-1','carol',1800000020);
CREATE TABLE grants (
  id TEXT PRIMARY KEY, request_id TEXT NOT NULL, user TEXT NOT NULL, role TEXT NOT NULL,
  login TEXT NOT NULL, tier INTEGER NOT NULL, start INTEGER NOT NULL, end_ INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL DEFAULT 0, revoked_by TEXT NOT NULL DEFAULT '',
  uid INTEGER NOT NULL DEFAULT 0);
INSERT INTO grants VALUES('grant-1','req-1','alice','tier0-linux-admin','adm-alice-7k2f',0,1800000020,1800001820,1800000500,'root',60001);
CREATE TABLE certs (
  serial INTEGER PRIMARY KEY, key_id TEXT NOT NULL, fingerprint TEXT NOT NULL,
  grant_id TEXT NOT NULL, ca_key BLOB NOT NULL, valid_after INTEGER NOT NULL,
  valid_before INTEGER NOT NULL);
INSERT INTO certs VALUES(42,'alice@grant-1','SHA256:abc','grant-1',X'0001020304',1800000020,1800001820);
CREATE TABLE ca_keys (
  label TEXT PRIMARY KEY, purpose TEXT NOT NULL, tier INTEGER NOT NULL, public_key BLOB NOT NULL,
  state TEXT NOT NULL, created INTEGER NOT NULL);
INSERT INTO ca_keys VALUES('user-ca-0-1','user',0,X'0a0b0c','active',1799990000);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO counters VALUES('account_id',1);
INSERT INTO counters VALUES('host_state',3);
INSERT INTO counters VALUES('krl_version',1);
CREATE TABLE join_tokens (
  hash TEXT PRIMARY KEY, tier INTEGER NOT NULL, labels TEXT NOT NULL, created INTEGER NOT NULL,
  expires INTEGER NOT NULL, created_by TEXT NOT NULL, used_at INTEGER NOT NULL DEFAULT 0,
  used_by TEXT NOT NULL DEFAULT '', hostnames TEXT NOT NULL DEFAULT '[]');
INSERT INTO join_tokens VALUES('9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',0,'{"env":"prod"}',1799990000,1800090000,'root',1799995000,'host-1','["db1"]');
CREATE TABLE hosts (
  id TEXT PRIMARY KEY, hostname TEXT NOT NULL, tier INTEGER NOT NULL, labels TEXT NOT NULL,
  enrolled INTEGER NOT NULL, cert_expires INTEGER NOT NULL);
INSERT INTO hosts VALUES('host-1','db1',0,'{"env":"prod"}',1799995000,1802587000);
CREATE TABLE account_groups (name TEXT PRIMARY KEY, gid INTEGER NOT NULL UNIQUE);
INSERT INTO account_groups VALUES('wheel-ops',60002);
CREATE TABLE recordings (
  session_id TEXT PRIMARY KEY, host_id TEXT NOT NULL, user TEXT NOT NULL, service TEXT NOT NULL,
  tty TEXT NOT NULL, rhost TEXT NOT NULL, started_ns INTEGER NOT NULL,
  ended_ns INTEGER NOT NULL DEFAULT 0, chunks INTEGER NOT NULL DEFAULT 0, last_hash BLOB NOT NULL,
  lost_bytes INTEGER NOT NULL DEFAULT 0, seal BLOB NOT NULL DEFAULT x'',
  grant_id TEXT NOT NULL DEFAULT '');
INSERT INTO recordings VALUES('sess-1','host-1','adm-alice-7k2f','sshd','pts/0','10.0.0.5',1800000100000000000,1800000200000000000,1,X'aabb',0,X'ccdd','grant-1');
CREATE TABLE recording_chunks (
  session_id TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL, hash BLOB NOT NULL,
  PRIMARY KEY (session_id, seq));
INSERT INTO recording_chunks VALUES('sess-1',1,X'28b52ffd',X'aabb');
CREATE TABLE recording_commands (
  session_id TEXT NOT NULL, seq INTEGER NOT NULL, argv TEXT NOT NULL);
INSERT INTO recording_commands VALUES('sess-1',1,'["rm","-rf","/tmp/x"]');
CREATE TABLE recording_alerts (
  session_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
INSERT INTO recording_alerts VALUES('sess-1',1,'destructive-command','rm -rf');
CREATE TABLE audit_anchor (
  id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL,
  signature BLOB NOT NULL);
INSERT INTO audit_anchor VALUES(1,17,'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',X'5349474e');
CREATE TABLE vault_seal (
  id INTEGER PRIMARY KEY CHECK (id = 1), mode TEXT NOT NULL, set_id INTEGER NOT NULL,
  shares INTEGER NOT NULL, threshold INTEGER NOT NULL, wrapped_root BLOB NOT NULL,
  check_blob BLOB NOT NULL);
INSERT INTO vault_seal VALUES(1,'shamir',7,5,3,X'',X'636865636b');
CREATE TABLE vault_versions (
  path TEXT NOT NULL, version INTEGER NOT NULL, created INTEGER NOT NULL,
  created_by TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
  destroyed INTEGER NOT NULL DEFAULT 0, used INTEGER NOT NULL DEFAULT 0,
  wrapped_key BLOB NOT NULL, ciphertext BLOB NOT NULL, PRIMARY KEY (path, version));
INSERT INTO vault_versions VALUES('apps/bank/admin',1,1800000000,'root',0,0,1800000900,X'6b6579',X'6369706865');
CREATE TABLE vault_wraps (
  accessor TEXT PRIMARY KEY, token_hash BLOB NOT NULL UNIQUE, path TEXT NOT NULL,
  version INTEGER NOT NULL, requester TEXT NOT NULL, created INTEGER NOT NULL,
  expires INTEGER NOT NULL, approvals_required INTEGER NOT NULL, approver_groups TEXT NOT NULL,
  unwrapped INTEGER NOT NULL DEFAULT 0, checkout INTEGER NOT NULL DEFAULT 0);
INSERT INTO vault_wraps VALUES('acc-1',X'746f6b656e68617368','apps/bank/admin',1,'alice',1800000300,1800000900,2,'["approvers"]',1800000400,1);
CREATE TABLE vault_authorizations (
  accessor TEXT NOT NULL, approver TEXT NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (accessor, approver));
INSERT INTO vault_authorizations VALUES('acc-1','bob','CHG-1 ok',1800000350);
CREATE TABLE vault_checkouts (
  path TEXT PRIMARY KEY, holder TEXT NOT NULL, version INTEGER NOT NULL, since INTEGER NOT NULL,
  until INTEGER NOT NULL);
INSERT INTO vault_checkouts VALUES('apps/bank/admin','alice',1,1800000400,1800002200);
CREATE INDEX grants_login ON grants(login);
CREATE INDEX certs_grant ON certs(grant_id);
CREATE INDEX recording_commands_session ON recording_commands(session_id);
CREATE INDEX recording_alerts_session ON recording_alerts(session_id);
COMMIT;
