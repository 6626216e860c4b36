// DatabaseDriver for PostgreSQL through libpq: one admin connection per policy connection, kept
// open and reused (reopened after an error), statements run in one transaction with
// standard_conforming_strings on and a 10 s statement timeout.
#pragma once

#include <libpq-fe.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "controller/core/db_credentials.h"

namespace warden {

class PostgresDriver final : public DatabaseDriver {
 public:
  absl::Status Execute(const DbConnectionPolicy& c, const SecretBytes& admin_password,
                       const std::vector<std::string>& statements) override;
  absl::StatusOr<std::vector<std::string>> ListRoles(const DbConnectionPolicy& c,
                                                     const SecretBytes& admin_password,
                                                     std::string_view prefix) override;
  // The password goes to the server as a SCRAM-SHA-256 verifier computed here
  // (PQencryptPasswordConn, as psql's \password does): the password itself never reaches the
  // server, its statement log or pg_stat_activity.
  absl::Status SetPassword(const DbConnectionPolicy& c, const SecretBytes& admin_password,
                           std::string_view role, const SecretBytes& password) override;
  // A refusal is told from other failures by the server's message ("password authentication
  // failed", PostgreSQL's wording for SQLSTATE 28P01 and 28000 at login); a server whose
  // lc_messages is not English reports refusals as UNAVAILABLE.
  absl::Status Authenticate(const DbConnectionPolicy& c, std::string_view user,
                            const SecretBytes& password) override;

 private:
  using Conn = std::unique_ptr<PGconn, void (*)(PGconn*)>;
  struct Slot {
    std::mutex mu;
    Conn conn{nullptr, PQfinish};
  };
  // The connection's slot, locked, with an open connection (made if needed).
  absl::StatusOr<PGconn*> Connect(const DbConnectionPolicy& c, const SecretBytes& admin_password,
                                  Slot& slot);
  Slot& SlotOf(const std::string& name);

  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Slot>> slots_;
};

}  // namespace warden
