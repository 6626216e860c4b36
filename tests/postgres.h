// A PostgreSQL cluster of its own for tests and benchmarks: initdb as the postgres user in a
// temp dir, on a free loopback port, SCRAM passwords over TCP and trust on its socket;
// warden_admin (password "adminpw") may create roles, grant pg_read_all_data and end other
// roles' sessions (pg_signal_backend).
#pragma once

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/status.h"
#include "common/strings.h"
#include "tests/test_util.h"

namespace warden::testing {

class Postgres {
 public:
  Postgres() = default;
  Postgres(const Postgres&) = delete;
  Postgres& operator=(const Postgres&) = delete;
  ~Postgres() {
    if (dir_.empty()) return;
    Stop();
    (void)Sh(StrCat("rm -rf ", dir_));
  }

  absl::Status Create() {
    char tmpl[] = "/tmp/warden-pg.XXXXXX";
    if (!mkdtemp(tmpl)) return absl::InternalError("mkdtemp failed");
    dir_ = tmpl;
    const passwd* pg = getpwnam("postgres");
    if (!pg || chown(dir_.c_str(), pg->pw_uid, pg->pw_gid) != 0)
      return absl::FailedPreconditionError(
          "no postgres user (scripts/install-deps.sh installs postgresql-15)");
    port_ = FreePort();
    if (!Sh(StrCat("echo superpw > ", dir_, "/pw && chown postgres ", dir_, "/pw")) ||
        !Sh(StrCat("runuser -u postgres -- ", kBin, "/initdb -D ", dir_, "/data -U postgres ",
                   "--pwfile=", dir_, "/pw --auth-host=scram-sha-256 --auth-local=trust >/dev/null")))
      return absl::InternalError("initdb failed");
    RETURN_IF_ERROR(Start());
    if (!Sh(Psql("CREATE ROLE warden_admin LOGIN CREATEROLE PASSWORD 'adminpw'")) ||
        !Sh(Psql("GRANT pg_read_all_data TO warden_admin WITH ADMIN OPTION")) ||
        !Sh(Psql("GRANT pg_signal_backend TO warden_admin")))
      return absl::InternalError("cannot create warden_admin");
    return absl::OkStatus();
  }
  absl::Status Start() {
    if (!Sh(StrCat("runuser -u postgres -- ", kBin, "/pg_ctl -D ", dir_, "/data -l ", dir_,
                   "/log -o \"-p ", port_, " -k ", dir_,
                   " -c listen_addresses=127.0.0.1\" -w start >/dev/null")))
      return absl::InternalError(StrCat("pg_ctl start failed; see ", dir_, "/log"));
    return absl::OkStatus();
  }
  void Stop() {
    (void)Sh(StrCat("runuser -u postgres -- ", kBin, "/pg_ctl -D ", dir_,
                    "/data -m fast -w stop >/dev/null 2>&1"));
  }
  int port() const { return port_; }
  // The directory of its Unix socket (where logins are trusted: no password asked).
  const std::string& socket_dir() const { return dir_; }
  // As the superuser over the socket: the rows' first column, one per line ("" on failure).
  std::string Sql(const std::string& sql) {
    const std::string out = StrCat(dir_, "/out");
    if (!Sh(StrCat(Psql(sql), " > ", out))) return "";
    std::string rows = ReadAll(out);
    while (!rows.empty() && rows.back() == '\n') rows.pop_back();
    return rows;
  }
  // Whether `user` logs in over TCP with `password`.
  bool LogsIn(const std::string& user, const std::string& password) {
    const std::string conninfo =
        StrCat("host=127.0.0.1 port=", port_, " dbname=postgres user=", QuoteConninfo(user),
               " password=", QuoteConninfo(password), " connect_timeout=5");
    PGconn* c = PQconnectdb(conninfo.c_str());
    const bool ok = PQstatus(c) == CONNECTION_OK;
    PQfinish(c);
    return ok;
  }

 private:
  static constexpr const char* kBin = "/usr/lib/postgresql/15/bin";
  static bool Sh(const std::string& cmd) { return system(cmd.c_str()) == 0; }
  std::string Psql(const std::string& sql) const {
    return StrCat("runuser -u postgres -- psql -X -A -t -q -h ", dir_, " -p ", port_,
                  " -d postgres -v ON_ERROR_STOP=1 -c ", Quote(sql));
  }
  static std::string Quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  }
  static std::string QuoteConninfo(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += (c == '\'' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    return out + "'";
  }
  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
  }
  std::string dir_;
  int port_ = 0;
};

}  // namespace warden::testing
