#include "controller/store/store.h"

#include "common/strings.h"

namespace warden {

// A prepared statement with typed binders and readers. Statements are short-lived; SQLite's
// own statement cache makes re-preparing cheap enough for the controller's call rates.
class Store::Stmt {
 public:
  // `s` is owned by the store's statement cache; the Stmt resets it when done.
  Stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  Stmt(Stmt&& o) noexcept : db_(o.db_), s_(o.s_) { o.s_ = nullptr; }
  ~Stmt() {
    if (s_) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }

  Stmt& Bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& BindBlob(int i, ByteSpan v) {
    // An empty blob, not NULL (which a null data pointer would bind).
    static const uint8_t kEmpty = 0;
    sqlite3_bind_blob(s_, i, v.empty() ? &kEmpty : v.data(), static_cast<int>(v.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  // Returns true while there is a row.
  absl::StatusOr<bool> Step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    if (rc == SQLITE_CONSTRAINT) {
      return absl::AlreadyExistsError(StrCat("constraint: ", sqlite3_errmsg(db_)));
    }
    return absl::UnavailableError(StrCat("database error: ", sqlite3_errmsg(db_)));
  }
  absl::Status Run() { return Step().status(); }
  std::string Text(int col) {
    const unsigned char* p = sqlite3_column_text(s_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(s_, col)))
             : std::string();
  }
  int64_t Int(int col) { return sqlite3_column_int64(s_, col); }
  Bytes Blob(int col) {
    const uint8_t* p = static_cast<const uint8_t*>(sqlite3_column_blob(s_, col));
    return p ? Bytes(p, p + sqlite3_column_bytes(s_, col)) : Bytes();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_;
};

namespace {

constexpr const char* kSchema = R"sql(
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

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(StrCat("cannot open database ", path, ": ", msg));
  }
  std::unique_ptr<Store> s(new Store(db));
  sqlite3_busy_timeout(db, 5000);
  RETURN_IF_ERROR(s->Exec("PRAGMA journal_mode=WAL"));
  // NORMAL in WAL mode: durable against a process crash, may lose the last commits on power
  // loss; the audit log is flushed on the same schedule.
  RETURN_IF_ERROR(s->Exec("PRAGMA synchronous=NORMAL"));
  RETURN_IF_ERROR(s->Exec("PRAGMA foreign_keys=ON"));
  RETURN_IF_ERROR(s->Exec(kSchema));
  // Columns added after a table's first release; a database made before gets them here.
  RETURN_IF_ERROR(s->AddColumnIfMissing("join_tokens", "hostnames",
                                        "hostnames TEXT NOT NULL DEFAULT '[]'"));
  // WAL checkpoints copy pages into the database and fsync; run them on a second connection in
  // the background so that no request pays for one while holding the store's lock.
  RETURN_IF_ERROR(s->Exec("PRAGMA wal_autocheckpoint=0"));
  sqlite3* ckpt = nullptr;
  if (sqlite3_open_v2(path.c_str(), &ckpt, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(ckpt);
    return absl::UnavailableError(StrCat("cannot open database ", path, " for checkpoints"));
  }
  sqlite3_busy_timeout(ckpt, 1000);
  s->checkpointer_ = std::thread([store = s.get(), ckpt] {
    std::unique_lock lock(store->ckpt_mu_);
    while (!store->stopping_) {
      store->ckpt_cv_.wait_for(lock, std::chrono::seconds(1));
      lock.unlock();
      // PASSIVE never blocks writers; whatever it cannot copy now it copies next time.
      sqlite3_wal_checkpoint_v2(ckpt, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      lock.lock();
    }
    sqlite3_close(ckpt);
  });
  return s;
}

Store::~Store() {
  {
    std::lock_guard lock(ckpt_mu_);
    stopping_ = true;
  }
  ckpt_cv_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

absl::Status Store::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    return absl::UnavailableError(StrCat("database error: ", msg));
  }
  return absl::OkStatus();
}

absl::Status Store::AddColumnIfMissing(const char* table, const char* column,
                                       const char* definition) {
  sqlite3_stmt* info = nullptr;
  const std::string query = StrCat("PRAGMA table_info(", table, ")");
  if (sqlite3_prepare_v2(db_, query.c_str(), -1, &info, nullptr) != SQLITE_OK) {
    return absl::UnavailableError(StrCat("database error: ", sqlite3_errmsg(db_)));
  }
  bool found = false;
  while (sqlite3_step(info) == SQLITE_ROW) {
    const unsigned char* name = sqlite3_column_text(info, 1);
    if (name && std::string_view(reinterpret_cast<const char*>(name)) == column) found = true;
  }
  sqlite3_finalize(info);
  if (found) return absl::OkStatus();
  return Exec(StrCat("ALTER TABLE ", table, " ADD COLUMN ", definition).c_str());
}

absl::StatusOr<Store::Stmt> Store::Prepare(const char* sql) {
  // REQUIRES: mu_ held (every caller takes it), so a cached statement is used by one call at a time.
  auto it = statements_.find(sql);
  if (it != statements_.end()) return Stmt(db_, it->second);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
    return absl::InternalError(StrCat("bad SQL: ", sqlite3_errmsg(db_)));
  }
  statements_.emplace(sql, s);
  return Stmt(db_, s);
}

absl::StatusOr<Store::Transaction> Store::Begin() {
  std::unique_lock lock(mu_);
  if (absl::Status st = Exec("BEGIN IMMEDIATE"); !st.ok()) {
    return absl::UnavailableError(StrCat(
        "the database is busy: another process holds its write lock (",
        st.message(), "); try again"));
  }
  return Transaction(*this, std::move(lock));
}

absl::StatusOr<Store::Transaction> Store::BeginRead() {
  std::unique_lock lock(mu_);
  RETURN_IF_ERROR(Exec("BEGIN DEFERRED"));
  return Transaction(*this, std::move(lock));
}

Store::Transaction::~Transaction() {
  if (!done_) (void)s_.Exec("ROLLBACK");
}

absl::Status Store::Transaction::Commit() {
  done_ = true;
  absl::Status st = s_.Exec("COMMIT");
  if (!st.ok()) (void)s_.Exec("ROLLBACK");
  return st;
}

#define LOCKED std::lock_guard<std::recursive_mutex> lock(mu_)

absl::Status Store::InsertUser(const UserRow& u) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT INTO users VALUES (?,?,?,?)"));
  absl::Status st = s.Bind(1, u.name).Bind(2, u.password_hash).Bind(3, u.totp_secret)
                        .Bind(4, static_cast<int64_t>(u.totp_last_step)).Run();
  if (absl::IsAlreadyExists(st)) {
    return absl::AlreadyExistsError(StrCat("user \"", u.name, "\" already exists"));
  }
  return st;
}

absl::StatusOr<std::optional<UserRow>> Store::GetUser(std::string_view name) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT name,password_hash,totp_secret,totp_last_step FROM users WHERE name=?"));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<UserRow>();
  return UserRow{s.Text(0), s.Text(1), s.Text(2), static_cast<uint64_t>(s.Int(3))};
}

absl::StatusOr<bool> Store::UseTotpStep(std::string_view name, uint64_t step) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("UPDATE users SET totp_last_step=?1 "
                                   "WHERE name=?2 AND totp_last_step<?1"));
  RETURN_IF_ERROR(s.Bind(1, static_cast<int64_t>(step)).Bind(2, name).Run());
  return sqlite3_changes(db_) == 1;
}

namespace {
constexpr const char* kRequestCols =
    "id,requester,role,reason,ttl,state,created,expires,grant_id,decided_by,note";
}

absl::Status Store::InsertRequest(const RequestRow& r) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT INTO requests VALUES (?,?,?,?,?,?,?,?,?,?,?)"));
  return s.Bind(1, r.id).Bind(2, r.requester).Bind(3, r.role).Bind(4, r.reason).Bind(5, r.ttl)
      .Bind(6, r.state).Bind(7, r.created).Bind(8, r.expires).Bind(9, r.grant_id)
      .Bind(10, r.decided_by).Bind(11, r.note).Run();
}

static RequestRow ReadRequest(Store::Stmt& s);

absl::StatusOr<std::optional<RequestRow>> Store::GetRequest(std::string_view id) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare(StrCat("SELECT ", kRequestCols,
                                                " FROM requests WHERE id=?").c_str()));
  s.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<RequestRow>();
  return ReadRequest(s);
}

static RequestRow ReadRequest(Store::Stmt& s) {
  return RequestRow{s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4), s.Text(5),
                    s.Int(6),  s.Int(7),  s.Text(8), s.Text(9), s.Text(10)};
}

absl::StatusOr<std::vector<RequestRow>> Store::ListRequests(bool pending_only) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare(StrCat("SELECT ", kRequestCols, " FROM requests ",
                                                pending_only ? "WHERE state='pending' " : "",
                                                "ORDER BY created, id").c_str()));
  std::vector<RequestRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadRequest(s));
  }
  return out;
}

absl::Status Store::UpdateRequest(const RequestRow& r) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("UPDATE requests SET state=?,grant_id=?,decided_by=?,note=? WHERE id=?"));
  return s.Bind(1, r.state).Bind(2, r.grant_id).Bind(3, r.decided_by).Bind(4, r.note)
      .Bind(5, r.id).Run();
}

absl::StatusOr<bool> Store::AddApproval(std::string_view request_id, std::string_view approver,
                                        int64_t at) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT OR IGNORE INTO approvals VALUES (?,?,?)"));
  RETURN_IF_ERROR(s.Bind(1, request_id).Bind(2, approver).Bind(3, at).Run());
  return sqlite3_changes(db_) == 1;
}

absl::StatusOr<std::vector<ApprovalRow>> Store::ListApprovals(std::string_view request_id) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT approver,at FROM approvals WHERE request_id=? ORDER BY at, approver"));
  s.Bind(1, request_id);
  std::vector<ApprovalRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({s.Text(0), s.Int(1), ""});
  }
  return out;
}

namespace {
constexpr const char* kGrantCols =
    "id,request_id,user,role,login,tier,start,end_,revoked_at,revoked_by,uid";
}

static GrantRow ReadGrant(Store::Stmt& s) {
  return GrantRow{s.Text(0), s.Text(1), s.Text(2), s.Text(3),
                  s.Text(4), static_cast<int>(s.Int(5)), s.Int(6), s.Int(7), s.Int(8), s.Text(9),
                  static_cast<uint32_t>(s.Int(10))};
}

static absl::StatusOr<std::vector<GrantRow>> ReadGrants(Store::Stmt& s) {
  std::vector<GrantRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadGrant(s));
  }
  return out;
}

absl::Status Store::InsertGrant(const GrantRow& g) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT INTO grants VALUES (?,?,?,?,?,?,?,?,?,?,?)"));
  return s.Bind(1, g.id).Bind(2, g.request_id).Bind(3, g.user).Bind(4, g.role).Bind(5, g.login)
      .Bind(6, g.tier).Bind(7, g.start).Bind(8, g.end).Bind(9, g.revoked_at)
      .Bind(10, g.revoked_by).Bind(11, static_cast<int64_t>(g.uid)).Run();
}

absl::StatusOr<std::optional<GrantRow>> Store::GetGrant(std::string_view id) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare(StrCat("SELECT ", kGrantCols, " FROM grants WHERE id=?").c_str()));
  s.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<GrantRow>();
  return ReadGrant(s);
}

absl::StatusOr<std::vector<GrantRow>> Store::ListGrants() {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare(StrCat("SELECT ", kGrantCols, " FROM grants ORDER BY start, id").c_str()));
  return ReadGrants(s);
}

absl::StatusOr<std::vector<GrantRow>> Store::ListLiveGrants(int64_t now) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare(StrCat("SELECT ", kGrantCols,
                                          " FROM grants WHERE revoked_at=0 AND end_>? ORDER BY login")
                                       .c_str()));
  s.Bind(1, now);
  return ReadGrants(s);
}

absl::StatusOr<bool> Store::LoginInUse(std::string_view login) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT 1 FROM grants WHERE login=?"));
  s.Bind(1, login);
  return s.Step();
}

absl::Status Store::RevokeGrant(std::string_view id, int64_t at, std::string_view by) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("UPDATE grants SET revoked_at=?, revoked_by=? WHERE id=?"));
  return s.Bind(1, at).Bind(2, by).Bind(3, id).Run();
}

absl::Status Store::InsertCert(const CertRow& c) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT INTO certs VALUES (?,?,?,?,?,?,?)"));
  return s.Bind(1, static_cast<int64_t>(c.serial)).Bind(2, c.key_id).Bind(3, c.fingerprint)
      .Bind(4, c.grant_id).BindBlob(5, c.ca_key).Bind(6, c.valid_after).Bind(7, c.valid_before)
      .Run();
}

absl::StatusOr<int> Store::CountCerts(std::string_view grant_id) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT count(*) FROM certs WHERE grant_id=?"));
  s.Bind(1, grant_id);
  RETURN_IF_ERROR(s.Step().status());
  return static_cast<int>(s.Int(0));
}

absl::StatusOr<std::vector<CertRow>> Store::ListRevokedLiveCerts(int64_t now) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare(
      "SELECT c.serial,c.key_id,c.fingerprint,c.grant_id,c.ca_key,c.valid_after,c.valid_before "
      "FROM certs c JOIN grants g ON g.id=c.grant_id "
      "WHERE g.revoked_at>0 AND c.valid_before>? ORDER BY c.serial"));
  s.Bind(1, now);
  std::vector<CertRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({static_cast<uint64_t>(s.Int(0)), s.Text(1), s.Text(2), s.Text(3), s.Blob(4),
                   s.Int(5), s.Int(6)});
  }
  return out;
}

absl::Status Store::InsertCaKey(const CaKeyRow& k) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT INTO ca_keys VALUES (?,?,?,?,?,?)"));
  return s.Bind(1, k.label).Bind(2, k.purpose).Bind(3, k.tier).BindBlob(4, k.public_key)
      .Bind(5, k.state).Bind(6, k.created).Run();
}

absl::StatusOr<std::vector<CaKeyRow>> Store::ListCaKeys(std::string_view purpose, int tier) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT purpose,tier,label,public_key,state,created FROM ca_keys "
                                   "WHERE purpose=? AND tier=? ORDER BY created, label"));
  s.Bind(1, purpose).Bind(2, tier);
  std::vector<CaKeyRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({s.Text(0), static_cast<int>(s.Int(1)), s.Text(2), s.Blob(3), s.Text(4), s.Int(5)});
  }
  return out;
}

absl::Status Store::SetCaKeyState(std::string_view label, std::string_view state) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("UPDATE ca_keys SET state=? WHERE label=?"));
  return s.Bind(1, state).Bind(2, label).Run();
}

absl::Status Store::InsertJoinToken(const JoinTokenRow& t) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT INTO join_tokens (hash,tier,labels,created,expires,"
                                   "created_by,used_at,used_by,hostnames) "
                                   "VALUES (?,?,?,?,?,?,?,?,?)"));
  return s.Bind(1, t.hash).Bind(2, t.tier).Bind(3, t.labels).Bind(4, t.created)
      .Bind(5, t.expires).Bind(6, t.created_by).Bind(7, t.used_at).Bind(8, t.used_by)
      .Bind(9, t.hostnames).Run();
}

absl::StatusOr<std::optional<JoinTokenRow>> Store::GetJoinToken(std::string_view hash) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT hash,tier,labels,created,expires,created_by,used_at,"
                                   "used_by,hostnames FROM join_tokens WHERE hash=?"));
  s.Bind(1, hash);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<JoinTokenRow>();
  return JoinTokenRow{s.Text(0), static_cast<int>(s.Int(1)), s.Text(2), s.Int(3), s.Int(4),
                      s.Text(5), s.Int(6),                   s.Text(7), s.Text(8)};
}

absl::StatusOr<bool> Store::UseJoinToken(std::string_view hash, int64_t at,
                                         std::string_view host_id) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("UPDATE join_tokens SET used_at=?, used_by=? "
                                   "WHERE hash=? AND used_at=0"));
  RETURN_IF_ERROR(s.Bind(1, at).Bind(2, host_id).Bind(3, hash).Run());
  return sqlite3_changes(db_) == 1;
}

absl::Status Store::InsertHost(const HostRow& h) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT INTO hosts VALUES (?,?,?,?,?,?)"));
  return s.Bind(1, h.id).Bind(2, h.hostname).Bind(3, h.tier).Bind(4, h.labels)
      .Bind(5, h.enrolled).Bind(6, h.cert_expires).Run();
}

absl::StatusOr<std::optional<HostRow>> Store::GetHost(std::string_view id) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT id,hostname,tier,labels,enrolled,cert_expires "
                                   "FROM hosts WHERE id=?"));
  s.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<HostRow>();
  return HostRow{s.Text(0), s.Text(1), static_cast<int>(s.Int(2)), s.Text(3), s.Int(4), s.Int(5)};
}

absl::Status Store::SetHostCertExpiry(std::string_view id, int64_t expires) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("UPDATE hosts SET cert_expires=? WHERE id=?"));
  return s.Bind(1, expires).Bind(2, id).Run();
}

absl::StatusOr<uint32_t> Store::GroupGid(
    std::string_view name, const std::function<absl::StatusOr<uint32_t>()>& next_id) {
  LOCKED;
  {
    ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT gid FROM account_groups WHERE name=?"));
    s.Bind(1, name);
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) return static_cast<uint32_t>(s.Int(0));
  }
  ASSIGN_OR_RETURN(uint32_t gid, next_id());
  ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT INTO account_groups VALUES (?,?)"));
  RETURN_IF_ERROR(s.Bind(1, name).Bind(2, static_cast<int64_t>(gid)).Run());
  return gid;
}

absl::StatusOr<int64_t> Store::GetCounter(std::string_view name) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT value FROM counters WHERE name=?"));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.Int(0) : 0;
}

absl::StatusOr<int64_t> Store::BumpCounter(std::string_view name) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT INTO counters VALUES (?,1) ON CONFLICT(name) DO UPDATE SET value=value+1"));
  RETURN_IF_ERROR(s.Bind(1, name).Run());
  return GetCounter(name);
}

}  // namespace warden

namespace warden {

namespace {
constexpr const char* kRecordingCols =
    "session_id,host_id,user,service,tty,rhost,started_ns,ended_ns,chunks,last_hash,lost_bytes,seal,"
    "grant_id";

// kRecordingCols of `recordings r`, then the kinds of alert raised in the session.
constexpr const char* kRecordingRead =
    "r.session_id,r.host_id,r.user,r.service,r.tty,r.rhost,r.started_ns,r.ended_ns,r.chunks,"
    "r.last_hash,r.lost_bytes,r.seal,r.grant_id,(SELECT group_concat(kind, ',') FROM (SELECT "
    "DISTINCT kind FROM recording_alerts a WHERE a.session_id=r.session_id ORDER BY kind))";

RecordingRow ReadRecording(Store::Stmt& s) {
  RecordingRow r{s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Text(5),
                 s.Int(6), s.Int(7), static_cast<uint64_t>(s.Int(8)), s.Blob(9),
                 static_cast<uint64_t>(s.Int(10)), s.Blob(11), s.Text(12), {}};
  const std::string alerts = s.Text(13);
  for (size_t start = 0; start < alerts.size();) {
    size_t end = alerts.find(',', start);
    if (end == std::string::npos) end = alerts.size();
    r.alerts.push_back(alerts.substr(start, end - start));
    start = end + 1;
  }
  return r;
}
}  // namespace

absl::Status Store::InsertRecording(const RecordingRow& r) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare(StrCat("INSERT INTO recordings (", kRecordingCols,
                                          ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)").c_str()));
  return s.Bind(1, r.session_id).Bind(2, r.host_id).Bind(3, r.user).Bind(4, r.service)
      .Bind(5, r.tty).Bind(6, r.rhost).Bind(7, r.started_ns).Bind(8, r.ended_ns)
      .Bind(9, static_cast<int64_t>(r.chunks)).BindBlob(10, r.last_hash)
      .Bind(11, static_cast<int64_t>(r.lost_bytes)).BindBlob(12, r.seal).Bind(13, r.grant_id)
      .Run();
}

absl::StatusOr<std::optional<RecordingRow>> Store::GetRecording(std::string_view session_id) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare(StrCat("SELECT ", kRecordingRead,
                                          " FROM recordings r WHERE session_id=?").c_str()));
  s.Bind(1, session_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<RecordingRow>();
  return ReadRecording(s);
}

absl::Status Store::AppendRecordingChunk(std::string_view session_id, const RecordingChunkRow& c,
                                         const std::vector<std::string>& commands,
                                         const std::vector<RecordingAlert>& alerts) {
  ASSIGN_OR_RETURN(Transaction tx, Begin());
  {
    ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT INTO recording_chunks VALUES (?,?,?,?)"));
    RETURN_IF_ERROR(s.Bind(1, session_id).Bind(2, static_cast<int64_t>(c.seq))
                        .BindBlob(3, c.data).BindBlob(4, c.hash).Run());
  }
  for (const std::string& argv : commands) {
    ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT INTO recording_commands VALUES (?,?,?)"));
    RETURN_IF_ERROR(s.Bind(1, session_id).Bind(2, static_cast<int64_t>(c.seq)).Bind(3, argv).Run());
  }
  for (const RecordingAlert& a : alerts) {
    ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT INTO recording_alerts VALUES (?,?,?,?)"));
    RETURN_IF_ERROR(s.Bind(1, session_id).Bind(2, static_cast<int64_t>(c.seq)).Bind(3, a.kind)
                        .Bind(4, a.message).Run());
  }
  {
    ASSIGN_OR_RETURN(Stmt s, Prepare("UPDATE recordings SET chunks=?, last_hash=? WHERE session_id=?"));
    RETURN_IF_ERROR(s.Bind(1, static_cast<int64_t>(c.seq)).BindBlob(2, c.hash)
                        .Bind(3, session_id).Run());
  }
  return tx.Commit();
}

absl::Status Store::SealRecording(std::string_view session_id, int64_t ended_ns,
                                  uint64_t lost_bytes, ByteSpan seal) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("UPDATE recordings SET ended_ns=?, lost_bytes=?, seal=? "
                                   "WHERE session_id=?"));
  return s.Bind(1, ended_ns).Bind(2, static_cast<int64_t>(lost_bytes)).BindBlob(3, seal)
      .Bind(4, session_id).Run();
}

absl::StatusOr<std::vector<RecordingRow>> Store::ListRecordings(const RecordingFilter& f) {
  LOCKED;
  ASSIGN_OR_RETURN(
      Stmt s,
      Prepare(StrCat("SELECT ", kRecordingRead, " FROM recordings r WHERE (?1='' OR user=?1) "
                     "AND (?2='' OR host_id=?2) AND (?3=0 OR started_ns>=?3) "
                     "AND (?4=0 OR started_ns<=?4) AND (?5='' OR EXISTS (SELECT 1 FROM "
                     "recording_commands c WHERE c.session_id=r.session_id AND "
                     "instr(c.argv, ?5) > 0)) AND (?6='' OR grant_id=?6) ORDER BY started_ns")
                  .c_str()));
  s.Bind(1, f.user).Bind(2, f.host_id).Bind(3, f.since_ns).Bind(4, f.until_ns).Bind(5, f.command)
      .Bind(6, f.grant_id);
  std::vector<RecordingRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadRecording(s));
  }
  return out;
}

absl::Status Store::ForEachRecordingChunk(
    std::string_view session_id, const std::function<absl::Status(const RecordingChunkRow&)>& fn) {
  // Read in pages so that the store's lock is not held while `fn` runs (it may write to a
  // network stream).
  uint64_t next = 1;
  while (true) {
    std::vector<RecordingChunkRow> page;
    {
      LOCKED;
      ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT seq,data,hash FROM recording_chunks WHERE "
                                       "session_id=? AND seq>=? ORDER BY seq LIMIT 64"));
      s.Bind(1, session_id).Bind(2, static_cast<int64_t>(next));
      while (true) {
        ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        page.push_back({static_cast<uint64_t>(s.Int(0)), s.Blob(1), s.Blob(2)});
      }
    }
    if (page.empty()) return absl::OkStatus();
    for (const auto& c : page) RETURN_IF_ERROR(fn(c));
    next = page.back().seq + 1;
  }
}

absl::Status Store::PutAuditAnchor(const AuditAnchorRow& r) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT OR REPLACE INTO audit_anchor VALUES (1,?,?,?)"));
  return s.Bind(1, static_cast<int64_t>(r.seq)).Bind(2, r.hash).BindBlob(3, r.signature).Run();
}

absl::StatusOr<std::optional<AuditAnchorRow>> Store::GetAuditAnchor() {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT seq,hash,signature FROM audit_anchor WHERE id=1"));
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<AuditAnchorRow>();
  return AuditAnchorRow{static_cast<uint64_t>(s.Int(0)), s.Text(1), s.Blob(2)};
}

absl::Status Store::PutVaultSeal(const VaultSealRow& r) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT OR REPLACE INTO vault_seal VALUES (1,?,?,?,?,?,?)"));
  return s.Bind(1, r.mode).Bind(2, int64_t{r.set_id}).Bind(3, r.shares).Bind(4, r.threshold)
      .BindBlob(5, r.wrapped_root).BindBlob(6, r.check).Run();
}

absl::StatusOr<std::optional<VaultSealRow>> Store::GetVaultSeal() {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT mode,set_id,shares,threshold,wrapped_root,check_blob "
                                   "FROM vault_seal WHERE id=1"));
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<VaultSealRow>();
  return VaultSealRow{s.Text(0), static_cast<uint32_t>(s.Int(1)), static_cast<int>(s.Int(2)),
                      static_cast<int>(s.Int(3)), s.Blob(4), s.Blob(5)};
}

absl::StatusOr<int64_t> Store::NextSecretVersion(std::string_view path) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT COALESCE(MAX(version),0)+1 FROM vault_versions WHERE path=?"));
  s.Bind(1, path);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::InternalError("no version row");
  return s.Int(0);
}

absl::Status Store::InsertSecretVersion(const SecretVersionRow& r) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT INTO vault_versions VALUES (?,?,?,?,?,?,?,?,?)"));
  return s.Bind(1, r.path).Bind(2, r.version).Bind(3, r.created).Bind(4, r.created_by)
      .Bind(5, r.deleted).Bind(6, r.destroyed).Bind(7, r.used).BindBlob(8, r.wrapped_key)
      .BindBlob(9, r.ciphertext).Run();
}

namespace {
constexpr const char* kVersionCols =
    "path,version,created,created_by,deleted,destroyed,used,wrapped_key,ciphertext";
SecretVersionRow ReadVersion(Store::Stmt& s) {
  return SecretVersionRow{s.Text(0), s.Int(1), s.Int(2), s.Text(3), s.Int(4),
                          s.Int(5),  s.Int(6), s.Blob(7), s.Blob(8)};
}
constexpr const char* kWrapCols =
    "accessor,token_hash,path,version,requester,created,expires,approvals_required,"
    "approver_groups,unwrapped,checkout";
WrapRow ReadWrap(Store::Stmt& s) {
  return WrapRow{s.Text(0), s.Blob(1), s.Text(2), s.Int(3), s.Text(4), s.Int(5),
                 s.Int(6),  static_cast<int>(s.Int(7)), s.Text(8), s.Int(9), s.Int(10) != 0};
}
}  // namespace

absl::StatusOr<std::optional<SecretVersionRow>> Store::GetSecretVersion(std::string_view path,
                                                                        int64_t version) {
  LOCKED;
  ASSIGN_OR_RETURN(
      Stmt s, Prepare(StrCat("SELECT ", kVersionCols,
                             " FROM vault_versions WHERE path=?1 AND (?2=0 OR version=?2) "
                             "ORDER BY version DESC LIMIT 1")
                          .c_str()));
  s.Bind(1, path).Bind(2, version);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<SecretVersionRow>();
  return ReadVersion(s);
}

absl::StatusOr<std::vector<SecretVersionRow>> Store::ListSecretVersions(std::string_view path) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT path,version,created,created_by,deleted,destroyed,used "
                                   "FROM vault_versions WHERE path=? ORDER BY version"));
  s.Bind(1, path);
  std::vector<SecretVersionRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(SecretVersionRow{s.Text(0), s.Int(1), s.Int(2), s.Text(3), s.Int(4), s.Int(5),
                                   s.Int(6), {}, {}});
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> Store::ListSecretPaths(std::string_view prefix) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT DISTINCT path FROM vault_versions "
                                   "WHERE substr(path,1,length(?1))=?1 ORDER BY path"));
  s.Bind(1, prefix);
  std::vector<std::string> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(s.Text(0));
  }
  return out;
}

absl::StatusOr<int> Store::DeleteSecretVersions(std::string_view path,
                                                const std::vector<int64_t>& versions, int64_t at,
                                                bool destroy) {
  ASSIGN_OR_RETURN(Transaction tx, Begin());
  int changed = 0;
  for (int64_t v : versions) {
    ASSIGN_OR_RETURN(
        Stmt s, Prepare(destroy ? "UPDATE vault_versions SET destroyed=?1, wrapped_key=x'', "
                                  "ciphertext=x'' WHERE path=?2 AND version=?3 AND destroyed=0"
                                : "UPDATE vault_versions SET deleted=?1 WHERE path=?2 AND "
                                  "version=?3 AND deleted=0 AND destroyed=0"));
    RETURN_IF_ERROR(s.Bind(1, at).Bind(2, path).Bind(3, v).Run());
    changed += sqlite3_changes(db_);
  }
  RETURN_IF_ERROR(tx.Commit());
  return changed;
}

absl::Status Store::MarkSecretUsed(std::string_view path, int64_t version, int64_t at) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("UPDATE vault_versions SET used=? WHERE path=? AND version=?"));
  return s.Bind(1, at).Bind(2, path).Bind(3, version).Run();
}

absl::Status Store::InsertWrap(const WrapRow& w) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare(StrCat("INSERT INTO vault_wraps (", kWrapCols,
                                          ") VALUES (?,?,?,?,?,?,?,?,?,?,?)").c_str()));
  return s.Bind(1, w.accessor).BindBlob(2, w.token_hash).Bind(3, w.path).Bind(4, w.version)
      .Bind(5, w.requester).Bind(6, w.created).Bind(7, w.expires).Bind(8, w.approvals_required)
      .Bind(9, w.approver_groups).Bind(10, w.unwrapped).Bind(11, int64_t{w.checkout}).Run();
}

absl::StatusOr<std::optional<WrapRow>> Store::GetWrap(std::string_view accessor) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare(StrCat("SELECT ", kWrapCols,
                                          " FROM vault_wraps WHERE accessor=?").c_str()));
  s.Bind(1, accessor);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<WrapRow>();
  return ReadWrap(s);
}

absl::StatusOr<std::optional<WrapRow>> Store::GetWrapByToken(ByteSpan token_hash) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare(StrCat("SELECT ", kWrapCols,
                                          " FROM vault_wraps WHERE token_hash=?").c_str()));
  s.BindBlob(1, token_hash);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<WrapRow>();
  return ReadWrap(s);
}

absl::StatusOr<bool> Store::AddAuthorization(std::string_view accessor, std::string_view approver,
                                             std::string_view reason, int64_t at) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT OR IGNORE INTO vault_authorizations VALUES (?,?,?,?)"));
  RETURN_IF_ERROR(s.Bind(1, accessor).Bind(2, approver).Bind(3, reason).Bind(4, at).Run());
  return sqlite3_changes(db_) == 1;
}

absl::StatusOr<std::vector<ApprovalRow>> Store::ListAuthorizations(std::string_view accessor) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT approver,at,reason FROM vault_authorizations "
                                   "WHERE accessor=? ORDER BY at, approver"));
  s.Bind(1, accessor);
  std::vector<ApprovalRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({s.Text(0), s.Int(1), s.Text(2)});
  }
  return out;
}

absl::StatusOr<bool> Store::UseWrap(std::string_view accessor, int64_t at) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("UPDATE vault_wraps SET unwrapped=? WHERE accessor=? AND unwrapped=0"));
  RETURN_IF_ERROR(s.Bind(1, at).Bind(2, accessor).Run());
  return sqlite3_changes(db_) == 1;
}

absl::StatusOr<std::optional<CheckoutRow>> Store::GetCheckout(std::string_view path) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT path,holder,version,since,until FROM vault_checkouts WHERE path=?"));
  s.Bind(1, path);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<CheckoutRow>();
  return CheckoutRow{s.Text(0), s.Text(1), s.Int(2), s.Int(3), s.Int(4)};
}

absl::Status Store::PutCheckout(const CheckoutRow& c) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT OR REPLACE INTO vault_checkouts VALUES (?,?,?,?,?)"));
  return s.Bind(1, c.path).Bind(2, c.holder).Bind(3, c.version).Bind(4, c.since).Bind(5, c.until).Run();
}

absl::Status Store::DeleteCheckout(std::string_view path) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("DELETE FROM vault_checkouts WHERE path=?"));
  return s.Bind(1, path).Run();
}

absl::StatusOr<std::vector<CheckoutRow>> Store::ListExpiredCheckouts(int64_t now) {
  LOCKED;
  ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT path,holder,version,since,until FROM vault_checkouts "
                                   "WHERE until<=? ORDER BY until"));
  s.Bind(1, now);
  std::vector<CheckoutRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(CheckoutRow{s.Text(0), s.Text(1), s.Int(2), s.Int(3), s.Int(4)});
  }
  return out;
}

}  // namespace warden
