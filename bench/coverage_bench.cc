// Discovery and coverage benchmark. In one run, side by side:
//   - wardend's inventory of a host tree: a bare host (root only) and a crowded one (ACCOUNTS
//     local accounts, a tenth of them sudo members with three authorized keys each, sudoers
//     rules in an included directory): median milliseconds per read and the ratio;
//   - the controller taking HOSTS hosts' reports (each 20 privileged accounts, 5 standing): a
//     changed report (stored and audited) against an unchanged one (compared only), reports/s;
//   - `wardenctl coverage` computed over those hosts with 10 logins outside Warden each, at a
//     tenth of the hosts and at all of them: median milliseconds and the ratio.
// The controller's core runs in this process on a real SQLite store and audit log.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#include "common/strings.h"
#include "controller/core/coverage.h"
#include "controller/keys/software_keystore.h"
#include "controller/store/sqlite/sqlite_store.h"
#include "daemon/inventory.h"

namespace warden {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

template <typename F>
double MedianMs(int runs, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < runs; i++) {
    const auto start = Clock::now();
    f();
    t.push_back(Ms(Clock::now() - start));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void Put(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// A host tree with `accounts` local accounts; a tenth are sudo members with three keys each.
void PlantHost(const fs::path& root, int accounts, const std::string& key_line) {
  std::string passwd = "root:x:0:0:root:/root:/bin/bash\n", shadow = "root:!:19000::::::\n",
              sudo = "sudo:x:27:";
  for (int i = 0; i < accounts; i++) {
    const std::string u = StrCat("u", i);
    passwd += StrCat(u, ":x:", 2000 + i, ":", 2000 + i, "::/home/", u, ":/bin/bash\n");
    shadow += StrCat(u, i % 3 ? ":!:19000::::::\n" : ":$6$salt$hash:19000::::::\n");
    if (i % 10 == 0) {
      sudo += StrCat(i ? "," : "", u);
      Put(root / "home" / u / ".ssh/authorized_keys", key_line + key_line + key_line);
    }
  }
  Put(root / "etc/passwd", passwd);
  Put(root / "etc/shadow", shadow);
  Put(root / "etc/group", "root:x:0:\n" + sudo + "\nadm:x:4:\n");
  Put(root / "etc/sudoers", "Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n");
  for (int i = 0; i < 50; i++)
    Put(root / "etc/sudoers.d" / StrCat("rule", i), StrCat("u", i * 7, " ALL=(root) /usr/bin/systemctl\n"));
  Put(root / "etc/ssh/sshd_config", "AuthorizedKeysFile .ssh/authorized_keys\n");
}

Inventory HostInventory(int host, bool changed) {
  Inventory inv;
  inv.break_glass = {"root"};
  for (int a = 0; a < 20; a++) {
    InventoryAccount acc;
    acc.name = StrCat("u", a);
    acc.uid = 2000 + a;
    acc.via = {"group sudo"};
    acc.password = a < 5;
    if (changed && a == 19) acc.authorized_keys.push_back({"/home/u19/.ssh/authorized_keys", "ssh-ed25519", StrCat("SHA256:h", host), ""});
    inv.privileged.push_back(std::move(acc));
  }
  return inv;
}

int Run(int accounts, int hosts) {
  char tmpl[] = "/tmp/warden-coverage-bench.XXXXXX";
  const fs::path dir = mkdtemp(tmpl);
  fs::permissions(dir, fs::perms(0755));  // key files are read with their accounts' ids
  if (std::system(StrCat("ssh-keygen -q -t ed25519 -N '' -f ", (dir / "key").string()).c_str()) != 0) return 1;
  std::ifstream kf(dir / "key.pub");
  std::string key_line;
  std::getline(kf, key_line);
  key_line += "\n";

  PlantHost(dir / "bare", 0, key_line);
  PlantHost(dir / "crowded", accounts, key_line);
  size_t privileged = 0, keys = 0;
  const double bare = MedianMs(20, [&] { CollectInventory((dir / "bare").string()); });
  const double crowded = MedianMs(20, [&] {
    const Inventory inv = CollectInventory((dir / "crowded").string());
    privileged = inv.privileged.size();
    keys = 0;
    for (const InventoryAccount& a : inv.privileged) keys += a.authorized_keys.size();
  });
  std::printf("Discovery and coverage (bench/coverage_bench %d %d)\n\n", accounts, hosts);
  std::printf("wardend's inventory read, median of 20:\n");
  std::printf("  bare host (root only)                          %8.2f ms\n", bare);
  std::printf("  %d accounts, %zu privileged, %zu keys         %8.2f ms  (%.1fx the bare host)\n",
              accounts, privileged, keys, crowded, crowded / bare);

  auto store = SqliteStore::Open((dir / "warden.db").string());
  if (!store.ok()) return 1;
  SoftwareKeyStore keystore;
  SystemClock clock;
  (void)keystore.Generate("audit", KeyAlgorithm::kEd25519);
  (void)keystore.GenerateMacKey("audit-hmac");
  AuditLog::Options o;
  o.path = (dir / "audit.log").string();
  o.key_label = "audit";
  o.hmac_key_label = "audit-hmac";
  AuditLog audit(std::move(o), keystore, **store, clock);
  if (!audit.Open().ok()) return 1;
  auto policy = ParsePolicy("groups: {admins: [admin]}\nroles: {}\n");
  if (!policy.ok()) {
    std::cerr << policy.status() << "\n";
    return 1;
  }
  Coverage coverage(*policy, **store, **store, **store, audit, clock);
  for (int h = 0; h < hosts; h++) {
    HostRow row;
    row.id = StrCat("h-", h);
    row.hostname = StrCat("host", h);
    row.tier = h % 3;
    row.labels = StrCat(R"({"group":"g)", h % 10, R"("})");
    if (!(*store)->InsertHost(row).ok()) return 1;
  }
  auto report_all = [&](bool changed) {
    const auto start = Clock::now();
    for (int h = 0; h < hosts; h++) {
      std::vector<HostLogin> logins;
      if (changed)
        for (int l = 0; l < 10; l++)
          logins.push_back({"u1", "pts/1", "10.0.0.1", (clock.Now() - 60) * 1000000 + l, l, "bypass", StrCat(h, ":", l)});
      absl::Status st = coverage.Report(StrCat("h-", h), HostInventory(h, changed), logins);
      if (!st.ok()) {
        std::cerr << st << "\n";
        std::exit(1);
      }
    }
    return hosts / (Ms(Clock::now() - start) / 1000);
  };
  const double first = report_all(true);
  const double unchanged = report_all(true);
  std::printf("\nthe controller taking %d hosts' reports (20 privileged accounts each):\n", hosts);
  std::printf("  changed (stored, audited, 10 logins each)      %8.0f reports/s\n", first);
  std::printf("  unchanged (compared; its logins known)         %8.0f reports/s  (%.1fx)\n", unchanged,
              unchanged / first);
  Identity admin;
  admin.user = "admin";
  // A tenth of the hosts: tier 0 is a third of them; a query for one tier of a tenth is the
  // same work as a fleet a tenth the size only for the store's reads, so compare whole fleets.
  const double all = MedianMs(10, [&] { (void)coverage.Compute(admin, {}); });
  CoverageQuery tier0;
  tier0.tier = 0;
  const double one_tier = MedianMs(10, [&] { (void)coverage.Compute(admin, tier0); });
  std::printf("\nwardenctl coverage over %d hosts (%d logins outside Warden), median of 10:\n", hosts, hosts * 10);
  std::printf("  every tier                                     %8.1f ms\n", all);
  std::printf("  --tier 0 (a third of the hosts)                %8.1f ms  (%.2fx)\n", one_tier, one_tier / all);
  fs::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace warden

int main(int argc, char** argv) {
  const int accounts = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int hosts = argc > 2 ? std::atoi(argv[2]) : 1000;
  return warden::Run(accounts, hosts);
}
