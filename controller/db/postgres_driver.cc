#include "controller/db/postgres_driver.h"

#include <openssl/crypto.h>

#include "common/strings.h"

namespace warden {
namespace {

using Result = std::unique_ptr<PGresult, void (*)(PGresult*)>;

// libpq's message, on one line, without its trailing newline.
std::string ErrorOf(PGconn* conn) {
  std::string m = PQerrorMessage(conn);
  for (char& c : m) c = c == '\n' ? ' ' : c;
  while (!m.empty() && m.back() == ' ') m.pop_back();
  return m;
}

absl::Status Run(PGconn* conn, const std::string& sql) {
  Result r(PQexec(conn, sql.c_str()), PQclear);
  const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return absl::OkStatus();
  return absl::FailedPreconditionError(ErrorOf(conn));
}

// A new connection as `user`; errors name the connection and the user.
absl::StatusOr<std::unique_ptr<PGconn, void (*)(PGconn*)>> Open(const DbConnectionPolicy& c,
                                                               std::string_view user_name,
                                                               const SecretBytes& secret) {
  const std::string port = std::to_string(c.port);
  const std::string user(user_name);
  std::string password(AsChars(secret.span()));
  // A server that stops answering mid-statement is given up on after 10 s (tcp_user_timeout,
  // keepalives): statement_timeout alone is the server's, and would never fire.
  // TLS as the connection's policy says (db_policy.h): with verify-*, the password goes only to
  // a server whose certificate chains to ca_file (and, verify-full, names the host). The
  // controller starts with libpq's PG* variables cleared (main.cc), so nothing but the policy
  // says where and how it connects.
  const char* keys[] = {"host", "port", "dbname", "user", "password", "connect_timeout",
                        "application_name", "keepalives_idle", "keepalives_interval",
                        "keepalives_count", "tcp_user_timeout", "sslmode", "sslrootcert",
                        "gssencmode", nullptr};
  const char* values[] = {c.host.c_str(), port.c_str(), c.database.c_str(), user.c_str(),
                          password.c_str(), "5", "warden-controller", "5", "2", "3", "10000",
                          c.sslmode.empty() ? "disable" : c.sslmode.c_str(),
                          c.sslmode.rfind("verify-", 0) == 0 ? c.ca_file.c_str() : "",
                          "disable", nullptr};
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdbParams(keys, values, 0), PQfinish);
  OPENSSL_cleanse(password.data(), password.size());
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    const std::string why = conn ? ErrorOf(conn.get()) : "out of memory";
    const std::string text = StrCat("cannot connect to database ", c.name, " (", c.host, ":",
                                    c.port, "/", c.database, ") as ", user, ": ", why);
    if (why.find("password authentication failed") != std::string::npos)
      return absl::PermissionDeniedError(text);
    return absl::UnavailableError(text);
  }
  return conn;
}

}  // namespace

PostgresDriver::Slot& PostgresDriver::SlotOf(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& s = slots_[name];
  if (!s) s = std::make_unique<Slot>();
  return *s;
}

absl::StatusOr<PGconn*> PostgresDriver::Connect(const DbConnectionPolicy& c,
                                                const SecretBytes& admin_password, Slot& slot) {
  if (slot.conn && PQstatus(slot.conn.get()) == CONNECTION_OK) return slot.conn.get();
  absl::StatusOr<Conn> opened = Open(c, c.admin_user, admin_password);
  // The admin refused is no different, to a caller, from an unreachable server.
  if (!opened.ok()) return absl::UnavailableError(opened.status().message());
  Conn conn = *std::move(opened);
  // Errors without the statement excerpt (LINE 1: ... PASSWORD '...'): they reach logs and
  // the audit log.
  PQsetErrorVerbosity(conn.get(), PQERRORS_TERSE);
  // Literals as Warden quotes them ('' doubles a quote, a backslash is itself), and no statement
  // that hangs the expiry of every other lease.
  RETURN_IF_ERROR(Run(conn.get(), "SET standard_conforming_strings = on"));
  RETURN_IF_ERROR(Run(conn.get(), "SET statement_timeout = '10s'"));
  slot.conn = std::move(conn);
  return slot.conn.get();
}

absl::Status PostgresDriver::Execute(const DbConnectionPolicy& c, const SecretBytes& admin_password,
                                     const std::vector<std::string>& statements) {
  Slot& slot = SlotOf(c.name);
  std::lock_guard lock(slot.mu);
  ASSIGN_OR_RETURN(PGconn * conn, Connect(c, admin_password, slot));
  absl::Status st = Run(conn, "BEGIN");
  if (!st.ok() && PQstatus(conn) != CONNECTION_OK) {
    // The server closed the kept connection (a restart, an idle timeout): once more, anew.
    slot.conn.reset();
    ASSIGN_OR_RETURN(conn, Connect(c, admin_password, slot));
    st = Run(conn, "BEGIN");
  }
  for (size_t i = 0; st.ok() && i < statements.size(); i++) {
    st = Run(conn, statements[i]);
    if (!st.ok()) st = absl::FailedPreconditionError(StrCat("statement ", i + 1, ": ", st.message()));
  }
  if (st.ok()) st = Run(conn, "COMMIT");
  if (!st.ok()) {
    // A failed transaction is rolled back; a broken connection is reopened next time.
    if (PQstatus(conn) != CONNECTION_OK || !Run(conn, "ROLLBACK").ok()) slot.conn.reset();
    return absl::Status(st.code(), StrCat("database ", c.name, ": ", st.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> PostgresDriver::ListRoles(const DbConnectionPolicy& c,
                                                                   const SecretBytes& admin_password,
                                                                   std::string_view prefix) {
  Slot& slot = SlotOf(c.name);
  std::lock_guard lock(slot.mu);
  ASSIGN_OR_RETURN(PGconn * conn, Connect(c, admin_password, slot));
  const std::string p(prefix);
  const char* params[] = {p.c_str()};
  Result r(PQexecParams(conn,
                        "SELECT rolname FROM pg_roles WHERE substr(rolname, 1, length($1)) = $1 "
                        "ORDER BY rolname",
                        1, nullptr, params, nullptr, nullptr, 0),
           PQclear);
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
    absl::Status st = absl::UnavailableError(StrCat("database ", c.name, ": ", ErrorOf(conn)));
    if (PQstatus(conn) != CONNECTION_OK) slot.conn.reset();
    return st;
  }
  std::vector<std::string> out;
  for (int i = 0; i < PQntuples(r.get()); i++) out.push_back(PQgetvalue(r.get(), i, 0));
  return out;
}

absl::Status PostgresDriver::SetPassword(const DbConnectionPolicy& c,
                                         const SecretBytes& admin_password, std::string_view role,
                                         const SecretBytes& password) {
  Slot& slot = SlotOf(c.name);
  std::lock_guard lock(slot.mu);
  ASSIGN_OR_RETURN(PGconn * conn, Connect(c, admin_password, slot));
  if (!Run(conn, "SELECT 1").ok()) {
    // The server closed the kept connection (a restart, an idle timeout): once more, anew.
    slot.conn.reset();
    ASSIGN_OR_RETURN(conn, Connect(c, admin_password, slot));
  }
  const std::string user(role);
  std::string plain(password.view());
  char* verifier = PQencryptPasswordConn(conn, plain.c_str(), user.c_str(), "scram-sha-256");
  OPENSSL_cleanse(plain.data(), plain.size());
  if (!verifier) {
    absl::Status st = absl::UnavailableError(StrCat("database ", c.name, ": ", ErrorOf(conn)));
    if (PQstatus(conn) != CONNECTION_OK) slot.conn.reset();
    return st;
  }
  const std::string sql =
      StrCat("ALTER ROLE ", QuoteIdentifier(user), " PASSWORD ", QuoteLiteral(verifier));
  PQfreemem(verifier);
  absl::Status st = Run(conn, sql);
  if (!st.ok()) {
    if (PQstatus(conn) != CONNECTION_OK) slot.conn.reset();
    return absl::Status(st.code(), StrCat("database ", c.name, ": setting the password of ", user,
                                          ": ", st.message()));
  }
  return absl::OkStatus();
}

absl::Status PostgresDriver::Authenticate(const DbConnectionPolicy& c, std::string_view user,
                                          const SecretBytes& password) {
  ASSIGN_OR_RETURN(Conn conn, Open(c, user, password));
  // A login that never asked for the password (pg_hba trust, peer, cert) proves nothing: not a
  // success, and not a refusal either.
  if (!PQconnectionUsedPassword(conn.get()))
    return absl::FailedPreconditionError(StrCat(
        "database ", c.name, " let ", user, " in without checking a password (pg_hba.conf: trust, "
        "peer or cert for Warden's address): the password cannot be proven there"));
  return absl::OkStatus();
}

}  // namespace warden
