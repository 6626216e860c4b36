// getpwnam/getpwuid latency of libnss_warden.so.2 against glibc's files module and
// libnss-extrausers holding the same accounts, at 100, 10,000 and 100,000 accounts, side by side.
// Each module's _nss_*_getpw*_r entry point is called in-process, as glibc calls it. The files
// and extrausers databases are bind-mounted over /etc/passwd and /var/lib/extrausers in a private
// mount namespace this process enters (so run as root); nothing on the system changes.
#include <dlfcn.h>
#include <nss.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mount.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "common/nsscache_writer.h"
#include "tests/test_util.h"

namespace {

using GetPwNam = nss_status (*)(const char*, passwd*, char*, size_t, int*);
using GetPwUid = nss_status (*)(uid_t, passwd*, char*, size_t, int*);
using Clock = std::chrono::steady_clock;

struct Module {
  const char* label;
  GetPwNam by_name;
  GetPwUid by_uid;
};

struct Stats {
  double p50_ns, p99_ns;
};

template <typename Fn>
Stats Measure(int n, Fn&& call) {
  std::vector<double> ns;
  ns.reserve(n);
  for (int i = 0; i < n; i++) {
    const auto t0 = Clock::now();
    call(i);
    ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
  }
  std::sort(ns.begin(), ns.end());
  return {ns[ns.size() / 2], ns[ns.size() * 99 / 100]};
}

Module Load(const char* label, const char* path, const char* prefix) {
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    std::fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
    std::exit(1);
  }
  const std::string p = prefix;
  return {label, reinterpret_cast<GetPwNam>(dlsym(h, ("_nss_" + p + "_getpwnam_r").c_str())),
          reinterpret_cast<GetPwUid>(dlsym(h, ("_nss_" + p + "_getpwuid_r").c_str()))};
}

}  // namespace

int main(int argc, char** argv) {
  const char* warden_module = argc > 1 ? argv[1] : "nss_module/libnss_warden.so.2";
  if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::perror("a private mount namespace is needed (run as root)");
    return 1;
  }
  warden::testing::TempDir dir;
  Module modules[] = {
      Load("warden (mmap cache)", warden_module, "warden"),
      Load("glibc files", "libnss_files.so.2", "files"),
      Load("libnss-extrausers", "/usr/lib/libnss_extrausers.so.2", "extrausers"),
  };
  std::printf("NSS lookup latency, in-process, per call (ns)\n\n");
  std::printf("%-9s %-22s %12s %12s %12s %12s\n", "accounts", "module", "getpwnam p50",
              "getpwnam p99", "getpwuid p50", "getpwuid p99");
  std::mt19937 rng(42);
  double warden_p50[3];
  int row = 0;
  for (int count : {100, 10000, 100000}) {
    std::vector<warden::NssUser> users;
    std::string passwd_text = warden::testing::ReadAll("/etc/passwd");
    for (int i = 0; i < count; i++) {
      warden::NssUser u{"adm-user" + std::to_string(i) + "-7k2f", "Warden", "/home/u" + std::to_string(i),
                        "/bin/sh", 2000000u + i, 2000000u + i, time(nullptr) + 3600};
      passwd_text += u.name + ":x:" + std::to_string(u.uid) + ":" + std::to_string(u.gid) + ":" +
                u.gecos + ":" + u.home + ":" + u.shell + "\n";
      users.push_back(std::move(u));
    }
    auto image = warden::BuildNssCache(users, {}, 1);
    const std::string sub = dir / std::to_string(count);
    std::filesystem::create_directories(sub + "/extrausers");
    (void)warden::WriteNssCacheFile(sub + "/nss.cache", *image);
    warden::testing::WriteAll(sub + "/passwd", passwd_text);
    warden::testing::WriteAll(sub + "/extrausers/passwd", passwd_text);
    setenv("WARDEN_NSS_CACHE", (sub + "/nss.cache").c_str(), 1);
    umount("/etc/passwd");
    umount("/var/lib/extrausers");
    if (mount((sub + "/passwd").c_str(), "/etc/passwd", nullptr, MS_BIND, nullptr) != 0 ||
        mount((sub + "/extrausers").c_str(), "/var/lib/extrausers", nullptr, MS_BIND, nullptr) != 0) {
      std::perror("bind mount");
      return 1;
    }
    for (const Module& m : modules) {
      // Slow linear scans get fewer iterations; every module looks up the same random accounts.
      const int iterations = std::string(m.label).rfind("warden", 0) == 0 ? 200000
                             : count >= 100000                            ? 300
                                                                          : 5000;
      std::vector<int> picks(iterations);
      for (auto& p : picks) p = static_cast<int>(rng() % count);
      char buf[1024];
      struct passwd pw;
      int err;
      Stats by_name = Measure(iterations, [&](int i) {
        if (m.by_name(users[picks[i]].name.c_str(), &pw, buf, sizeof(buf), &err) != NSS_STATUS_SUCCESS)
          std::abort();
      });
      Stats by_uid = Measure(iterations, [&](int i) {
        if (m.by_uid(users[picks[i]].uid, &pw, buf, sizeof(buf), &err) != NSS_STATUS_SUCCESS)
          std::abort();
      });
      std::printf("%-9d %-22s %12.0f %12.0f %12.0f %12.0f\n", count, m.label, by_name.p50_ns,
                  by_name.p99_ns, by_uid.p50_ns, by_uid.p99_ns);
      if (&m == &modules[0]) warden_p50[row] = by_name.p50_ns;
    }
    row++;
  }
  std::printf("\nwarden getpwnam p50: %.0f ns at 100, %.0f ns at 100,000 accounts (x%.2f); target <= 1000 ns: %s\n",
              warden_p50[0], warden_p50[2], warden_p50[2] / warden_p50[0],
              warden_p50[2] <= 1000 ? "met" : "NOT met");
  return 0;
}
