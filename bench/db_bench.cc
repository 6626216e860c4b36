// Dynamic database credentials against a PostgreSQL this benchmark starts. In one run, side by
// side:
//   - issue + revoke round trips through the controller's core (vault read of the admin password,
//     lease rows, audit events, the role's CREATE and DROP in their transactions), against the
//     floor: the same CREATE ROLE and DROP ROLE sent straight over one libpq connection;
//   - 10,000 leases that end at once: the controller's expiry passes (as warden-controller runs
//     them) until every role is dropped, while one client reads a KV secret over the API (mutual
//     TLS, audit on) back to back: its p50/p99 then against the same reads with nothing expiring,
//     and the controller's memory;
//   - rotations of a PostgreSQL role's password (docs/rotation.md: the vaulted value proven, the
//     new one sealed as pending, ALTER ROLE with a SCRAM verifier, the new one proven, committed,
//     audited), against what a careful script does by hand: the verifier, ALTER ROLE, one login
//     with the new password.
// Usage: db_bench [LEASES] (default 10000).
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "bench/load.h"
#include "tests/api_client.h"
#include "tests/postgres.h"
#include "warden/v1/vault.grpc.pb.h"

namespace warden {
namespace {

namespace pb = ::warden::v1;
using Steady = std::chrono::steady_clock;

double Since(Steady::time_point t0) {
  return std::chrono::duration<double>(Steady::now() - t0).count();
}

long RssKiB() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

Identity Who(Controller& c, const std::string& user) {
  Identity id;
  id.user = user;
  id.groups = c.policy().GroupsOf(user);
  return id;
}

}  // namespace
}  // namespace warden

int main(int argc, char** argv) {
  using namespace warden;
  ConfigureServerProcess();
  const int leases = argc > 1 ? std::atoi(argv[1]) : 10000;
  testing::Postgres pg;
  if (auto st = pg.Create(); !st.ok()) {
    std::cerr << "postgres: " << st.message() << "\n";
    return 1;
  }
  // The example policy's appdb connection, on this PostgreSQL.
  testing::ControllerHarness h;
  auto st = h.Start(1000, [&](const std::string& path) {
    std::string policy = testing::ReadAll(path);
    const std::string from = "      port: 5432\n";
    policy.replace(policy.find(from), from.size(), StrCat("      port: ", pg.port(), "\n"));
    policy += "rotation:\n  targets:\n    \"db/appdb/reporting\": "
              "{kind: postgres, connection: appdb, user: reporting}\n";
    testing::WriteAll(path, policy);
  });
  if (!st.ok()) {
    std::cerr << "setup failed: " << st.message() << "\n";
    return 1;
  }
  Controller& c = h.controller();
  if (!c.vault().Put(Who(c, "admin"), "db/appdb/admin", ToBytes("adminpw")).ok() ||
      !c.vault().Put(Who(c, "admin"), "kv/app/db", ToBytes(std::string(64, 'x'))).ok()) {
    std::cerr << "vault put failed\n";
    return 1;
  }
  DatabaseCredentials& db = c.databases();
  const Identity alice = Who(c, "alice");

  // 1. Round trips.
  std::printf("== issue + revoke round trips, sequential, against PostgreSQL 15 on loopback\n");
  std::printf("%-52s %10s %10s\n", "", "per s", "ms each");
  constexpr int kTrips = 300;
  auto t0 = Steady::now();
  for (int i = 0; i < kTrips; i++) {
    auto cred = db.Issue(alice, "readonly", 600);
    if (!cred.ok() || !db.Revoke(alice, cred->lease.id).ok()) {
      std::cerr << "round trip failed: " << cred.status().message() << "\n";
      return 1;
    }
  }
  const double warden_s = Since(t0);
  const std::string conninfo = StrCat("host=127.0.0.1 port=", pg.port(),
                                      " dbname=postgres user=warden_admin password=adminpw");
  PGconn* raw = PQconnectdb(conninfo.c_str());
  t0 = Steady::now();
  for (int i = 0; i < kTrips; i++) {
    for (const std::string& sql :
         {StrCat("BEGIN; CREATE ROLE \"w_floor_", i, "\" LOGIN PASSWORD 'p' VALID UNTIL 'infinity'; ",
                 "GRANT pg_read_all_data TO \"w_floor_", i, "\"; COMMIT"),
          StrCat("BEGIN; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ",
                 "'w_floor_", i, "'; DROP ROLE IF EXISTS \"w_floor_", i, "\"; COMMIT")}) {
      PGresult* r = PQexec(raw, sql.c_str());
      if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        std::cerr << "floor: " << PQerrorMessage(raw);
        return 1;
      }
      PQclear(r);
    }
  }
  const double floor_s = Since(t0);
  PQfinish(raw);
  std::printf("%-52s %10.0f %10.2f\n", "warden (core: vault, lease rows, audit, statements)",
              kTrips / warden_s, 1000 * warden_s / kTrips);
  std::printf("%-52s %10.0f %10.2f\n", "floor: the same SQL over one libpq connection",
              kTrips / floor_s, 1000 * floor_s / kTrips);
  std::printf("warden / floor time: %.2fx\n\n", warden_s / floor_s);

  // 2. Mass expiry.
  std::printf("== %d leases ending at once\n", leases);
  t0 = Steady::now();
  for (int i = 0; i < leases; i++) {
    if (!db.Issue(alice, "readonly", 3600).ok()) {
      std::cerr << "issue " << i << " failed\n";
      return 1;
    }
  }
  std::printf("made %d roles in %.1f s\n", leases, Since(t0));
  auto admin = h.Login("admin");
  auto stub = pb::VaultService::NewStub(h.Channel(admin));
  auto read = [&](int) {
    grpc::ClientContext ctx;
    pb::GetSecretRequest r;
    r.set_path("kv/app/db");
    pb::GetSecretResponse out;
    return stub->Get(&ctx, r, &out).ok();
  };
  const bench::LoadResult idle = bench::RunLoad(1, 5, read);
  // Their time is up: every lease's expiry moves to the past, as if the clock had passed it.
  if (system(StrCat("sqlite3 ", h.dir() / "data/warden.db",
                    " 'PRAGMA busy_timeout=5000; UPDATE db_leases SET expires=1 WHERE revoked=0' >/dev/null")
                 .c_str()) != 0) {
    std::cerr << "cannot move the leases' expiry\n";
    return 1;
  }
  const long rss_before = RssKiB();
  std::atomic<long> rss_peak{rss_before};
  std::atomic<bool> done{false};
  double drained_s = 0;
  int passes = 0;
  std::thread expiry([&] {
    // As warden-controller's lease thread: passes back to back while they come back full.
    const auto start = Steady::now();
    while (true) {
      auto n = db.RevokeExpired(kLeasesPerPass);
      passes++;
      if (!n.ok()) std::cerr << "pass: " << n.status().message() << "\n";
      rss_peak = std::max(rss_peak.load(), RssKiB());
      if (n.ok() && *n == kLeasesPerPass) continue;
      auto live = db.List(Who(c, "admin"));
      if (live.ok() && live->empty()) break;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    drained_s = Since(start);
    done = true;
  });
  std::vector<std::vector<double>> lat(1);
  uint64_t errors = 0;
  t0 = Steady::now();
  while (!done) {
    const auto c0 = Steady::now();
    if (read(0)) {
      lat[0].push_back(1000 * Since(c0));
    } else {
      errors++;
    }
  }
  const double busy_elapsed = Since(t0);
  expiry.join();
  const bench::LoadResult busy = bench::Summarize(lat, busy_elapsed, errors);
  const std::string left = pg.Sql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'w\\_readonly\\_%'");
  std::printf("every role dropped in %.1f s (%d passes); roles left: %s\n", drained_s, passes,
              left.c_str());
  std::printf("%-52s %10s %9s %9s\n", "KV read over the API, 1 client", "per s", "p50 ms", "p99 ms");
  std::printf("%-52s %10.0f %9.3f %9.3f\n", "  nothing expiring", idle.rate, idle.p50_ms, idle.p99_ms);
  std::printf("%-52s %10.0f %9.3f %9.3f%s\n", "  while the leases expire", busy.rate, busy.p50_ms,
              busy.p99_ms, busy.errors ? "  (errors!)" : "");
  std::printf("p99 during / idle: %.2fx\n", busy.p99_ms / idle.p99_ms);
  std::printf("controller RSS: %.1f MiB before, %.1f MiB peak during the expiry\n\n",
              rss_before / 1024.0, rss_peak.load() / 1024.0);

  // 3. Rotations.
  constexpr int kRotations = 100;
  pg.Sql("CREATE ROLE reporting LOGIN PASSWORD 'initial-password'");
  if (!c.vault().Put(Who(c, "admin"), "db/appdb/reporting", ToBytes("initial-password")).ok()) {
    std::cerr << "vault put failed\n";
    return 1;
  }
  std::printf("== %d rotations of a PostgreSQL role's password, sequential\n", kRotations);
  std::printf("%-52s %10s %10s\n", "", "per s", "ms each");
  t0 = Steady::now();
  for (int i = 0; i < kRotations; i++) {
    auto v = c.rotation().Rotate(Who(c, "admin"), "db/appdb/reporting");
    if (!v.ok()) {
      std::cerr << "rotation failed: " << v.status().message() << "\n";
      return 1;
    }
  }
  const double rotate_s = Since(t0);
  raw = PQconnectdb(conninfo.c_str());
  const std::string role_conninfo = StrCat("host=127.0.0.1 port=", pg.port(),
                                           " dbname=postgres user=reporting password=");
  t0 = Steady::now();
  for (int i = 0; i < kRotations; i++) {
    const std::string pw = StrCat("by-hand-password-", i);
    char* verifier = PQencryptPasswordConn(raw, pw.c_str(), "reporting", "scram-sha-256");
    PGresult* r = PQexec(raw, StrCat("ALTER ROLE reporting PASSWORD '", verifier, "'").c_str());
    PQfreemem(verifier);
    const bool altered = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PGconn* check = PQconnectdb((role_conninfo + pw).c_str());
    const bool in = PQstatus(check) == CONNECTION_OK;
    PQfinish(check);
    if (!altered || !in) {
      std::cerr << "by hand: " << PQerrorMessage(raw);
      return 1;
    }
  }
  const double hand_s = Since(t0);
  PQfinish(raw);
  std::printf("%-52s %10.1f %10.2f\n", "warden (prove, pending, change, prove, commit, audit)",
              kRotations / rotate_s, 1000 * rotate_s / kRotations);
  std::printf("%-52s %10.1f %10.2f\n", "by hand: verifier, ALTER ROLE, one login",
              kRotations / hand_s, 1000 * hand_s / kRotations);
  std::printf("warden / by hand time: %.2fx\n", rotate_s / hand_s);
  return 0;
}
