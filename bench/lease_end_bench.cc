// Lease end against many processes, side by side in one run: the time until the last process of
// an account is gone when wardend kills its session cgroups and then scans for the uid, against
// the uid scan alone (how wardend ended leases before sessions had cgroups); and what confining a
// session adds to its login. Needs root and a cgroup2 mount.
//
//   lease_end_bench [PROCESSES] [ACCOUNTS]     (defaults 1000 and 100)
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <set>
#include <thread>
#include <vector>

#include "common/strings.h"
#include "daemon/enforcer.h"
#include "daemon/session_cgroup.h"

namespace warden {
namespace {

constexpr uint32_t kFirstUid = 1879990000;

using Clock = std::chrono::steady_clock;
double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string Read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int CountUid(uint32_t uid) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string status = Read(e.path().string() + "/status");
    const size_t u = status.find("\nUid:\t");
    if (u != std::string::npos && status.compare(u + 6, std::to_string(uid).size() + 1,
                                                 std::to_string(uid) + "\t") == 0 &&
        status.find("State:\tZ") == std::string::npos) {
      n++;
    }
  }
  return n;
}

// A session of account `uid`: a root process (sshd's stand-in) confined in its cgroup, which
// forks `processes` processes of the uid. With `bomb`, they form a
// fork bomb held at `processes` by RLIMIT_NPROC (each keeps forking; a failed fork is retried).
pid_t StartSession(SessionCgroups* cgroups, uint32_t uid, int processes, bool bomb) {
  int go[2];
  if (pipe(go) != 0) return -1;
  const pid_t opener = fork();
  if (opener == 0) {
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(3);
    if (fork() == 0) {
      setsid();
      rlimit cap{static_cast<rlim_t>(processes), static_cast<rlim_t>(processes)};
      if (setgid(uid) != 0 || setrlimit(RLIMIT_NPROC, &cap) != 0 || setuid(uid) != 0) _exit(2);
      if (bomb) {
        for (long i = 0; i < 100000000; i++) {
          if (fork() < 0) usleep(1000);
        }
        _exit(0);
      }
      for (int i = 1; i < processes; i++) {
        if (fork() == 0) break;
      }
      while (true) pause();
    }
    while (true) pause();
  }
  close(go[0]);
  if (!cgroups->Confine(uid, StrCat("s-bench-", uid), opener).ok()) {
    fprintf(stderr, "cannot confine the session\n");
    exit(1);
  }
  if (write(go[1], "x", 1) != 1) return -1;
  close(go[1]);
  return opener;
}

void WaitFor(uint32_t uid, int n) {
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (CountUid(uid) < n && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Ends `uids` the way wardend's enforcer does when their leases end together; returns the time
// until the last process is gone, or -1 if the scan gave up. Without `cgroups`: one account after
// the other with the uid scan alone (wardend before sessions had cgroups).
double End(SessionCgroups* cgroups, const std::vector<uint32_t>& uids, int64_t grace_ms) {
  const auto start = Clock::now();
  const std::set<uint32_t> all(uids.begin(), uids.end());
  if (cgroups) {
    if (!cgroups->KillAccounts(all, 5000).ok() || !KillUidProcesses(all, grace_ms, 20000).ok()) return -1;
  } else {
    for (uint32_t uid : uids) {
      if (!KillUidProcesses({uid}, grace_ms, 20000).ok()) return -1;
    }
  }
  return Ms(Clock::now() - start);
}

void Reap(std::vector<pid_t>& openers) {
  for (pid_t p : openers) {
    kill(p, SIGKILL);
    waitpid(p, nullptr, 0);
  }
  openers.clear();
}

std::string Result(double ms) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.1f ms", ms);
  return ms < 0 ? "did not finish in 20 s" : buf;
}

int Main(int processes, int accounts) {
  const std::string mount = Cgroup2MountPoint(Read("/proc/self/mountinfo"));
  if (mount.empty()) {
    fprintf(stderr, "no cgroup2 mount\n");
    return 1;
  }
  std::string own = UnifiedCgroupPath(Read("/proc/self/cgroup"));
  if (own == "/") own.clear();
  const std::string dir = StrCat(mount, own, "/warden-bench-", getpid());
  mkdir(dir.c_str(), 0755);
  auto cgroups = SessionCgroups::AtDirectory(dir);
  const int64_t grace = 2000;  // wardend's default kill_grace_ms
  printf("lease end (this machine: %u cores), kill_grace_ms %lld\n",
         std::thread::hardware_concurrency(), static_cast<long long>(grace));

  // 1. One account, a fork bomb held at `processes` processes.
  std::vector<pid_t> openers;
  double with_cgroup = 0, scan_only = 0;
  for (int variant = 0; variant < 2; variant++) {
    const uint32_t uid = kFirstUid + variant;
    openers.push_back(StartSession(cgroups.get(), uid, processes, true));
    WaitFor(uid, processes * 9 / 10);
    const int before = CountUid(uid);
    const double ms = End(variant == 0 ? cgroups.get() : nullptr, {uid}, grace);
    (variant == 0 ? with_cgroup : scan_only) = ms;
    (void)cgroups->KillAccounts({uid}, 5000);  // the cgroup itself goes (and a bomb the scan left)
    printf("  fork bomb of %d processes (%d alive at the end): %-14s %s\n", processes, before,
           variant == 0 ? "cgroup + scan" : "uid scan only", Result(ms).c_str());
    Reap(openers);
  }
  if (with_cgroup > 0 && scan_only > 0) printf("  ratio scan only / cgroup: %.1fx\n", scan_only / with_cgroup);

  // 2. `accounts` accounts of 10 processes each, ending at once.
  for (int variant = 0; variant < 2; variant++) {
    std::vector<uint32_t> uids;
    for (int a = 0; a < accounts; a++) {
      const uint32_t uid = kFirstUid + 100 + variant * 1000 + a;
      uids.push_back(uid);
      openers.push_back(StartSession(cgroups.get(), uid, 10, false));
    }
    for (uint32_t uid : uids) WaitFor(uid, 10);
    const double ms = End(variant == 0 ? cgroups.get() : nullptr, uids, grace);
    printf("  %d accounts x 10 processes: %-14s %s\n", accounts,
           variant == 0 ? "cgroup + scan" : "uid scan only", Result(ms).c_str());
    (void)cgroups->KillAccounts({uids.begin(), uids.end()}, 5000);  // the cgroups themselves go
    Reap(openers);
  }

  // 3. What confinement adds to a login: Confine of sshd's session process (mkdir, the process
  // tree from /proc, cgroup.procs), p50/p99 of 200.
  std::vector<double> samples;
  for (int i = 0; i < 200; i++) {
    const pid_t p = fork();
    if (p == 0) {
      while (true) pause();
    }
    const auto start = Clock::now();
    if (!cgroups->Confine(kFirstUid + 5000, StrCat("s-login-", i), p).ok()) return 1;
    samples.push_back(Ms(Clock::now() - start));
    kill(p, SIGKILL);
    waitpid(p, nullptr, 0);
    cgroups->Release(kFirstUid + 5000, StrCat("s-login-", i));
  }
  std::sort(samples.begin(), samples.end());
  printf("  confinement added to a login: p50 %.3f ms, p99 %.3f ms (%zu processes on the host)\n",
         samples[samples.size() / 2], samples[samples.size() * 99 / 100],
         static_cast<size_t>(std::distance(std::filesystem::directory_iterator("/proc"),
                                           std::filesystem::directory_iterator())));
  rmdir(dir.c_str());
  return 0;
}

}  // namespace
}  // namespace warden

int main(int argc, char** argv) {
  return warden::Main(argc > 1 ? atoi(argv[1]) : 1000, argc > 2 ? atoi(argv[2]) : 100);
}
