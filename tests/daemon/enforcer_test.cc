// Lease end against the processes and files of a user who would rather it did not happen: a
// process that forks faster than /proc can be scanned, one that left with setsid and ignores
// SIGTERM, one that runs as root (through the account's sudo), and a home whose directories are
// swapped for symlinks while root removes it. Needs root and a cgroup2 mount (CI has both).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <algorithm>
#include <filesystem>
#include <thread>

#include "common/strings.h"
#include "daemon/enforcer.h"
#include "daemon/procfs.h"
#include "daemon/session_cgroup.h"
#include "tests/test_util.h"

namespace warden {
namespace {

constexpr uint32_t kUid = 1879999001;

TEST(CgroupPaths, FindsTheCgroup2MountAndTheUnifiedPath) {
  const std::string hybrid =
      "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(Cgroup2MountPoint(hybrid), "/sys/fs/cgroup/unified");
  EXPECT_EQ(Cgroup2MountPoint("25 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"),
            "/sys/fs/cgroup");
  EXPECT_EQ(Cgroup2MountPoint("31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"), "");
  EXPECT_EQ(UnifiedCgroupPath("9:name=systemd:/\n4:memory:/x\n0::/system.slice/wardend.service\n"),
            "/system.slice/wardend.service");
  EXPECT_EQ(UnifiedCgroupPath("4:memory:/x\n"), "");
}

// Names of live processes whose comm starts with `prefix`. (Each test names its processes with a
// prefix of its own: ctest runs the tests of this file side by side.)
std::vector<std::string> LiveNamed(const std::string& prefix) {
  std::vector<std::string> out;
  for (const ProcessInfo& p : ListProcesses()) {
    const std::string stat = testing::ReadAll(StrCat("/proc/", p.pid, "/stat"));
    const size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 2 >= stat.size()) continue;
    const std::string comm = stat.substr(open + 1, close - open - 1);
    if (comm.rfind(prefix, 0) == 0 && stat[close + 2] != 'Z') out.push_back(comm);
  }
  return out;
}

[[noreturn]] void Become(const char* name, uid_t uid, bool ignore_term) {
  prctl(PR_SET_NAME, name);
  if (ignore_term) signal(SIGTERM, SIG_IGN);
  if (uid != 0 && (setgid(uid) != 0 || setuid(uid) != 0)) _exit(2);
  while (true) pause();
}

class SessionCgroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string mount = Cgroup2MountPoint(testing::ReadAll("/proc/self/mountinfo"));
    ASSERT_FALSE(mount.empty()) << "these tests need a cgroup2 mount";
    std::string own = UnifiedCgroupPath(testing::ReadAll("/proc/self/cgroup"));
    if (own == "/") own.clear();
    dir_ = StrCat(mount, own, "/warden-test-", getpid());
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0) << dir_ << ": " << strerror(errno);
    cgroups_ = SessionCgroups::AtDirectory(dir_);
  }
  void TearDown() override {
    // Whatever a failed test left running goes with its cgroup.
    (void)cgroups_->KillAccounts({kUid, kUid + 1}, 5000);
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      if (e.is_directory()) rmdir(e.path().c_str());
    }
    rmdir(dir_.c_str());
  }
  std::string dir_;
  std::unique_ptr<SessionCgroups> cgroups_;
};

TEST_F(SessionCgroupsTest, AccountEndKillsAForkRunnerADetachedDaemonAndARootChild) {
  int go[2], started[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(started), 0);
  // The stand-in for sshd's session process: confined before the session runs anything.
  const pid_t opener = fork();
  if (opener == 0) {
    close(go[1]);
    close(started[0]);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(3);
    if (fork() == 0) {
      // Its pid changes all the time: each generation forks the next and exits. (A scan of
      // /proc rarely even sees it alive.)
      prctl(PR_SET_NAME, "wkill-runner");
      signal(SIGTERM, SIG_IGN);
      if (setgid(kUid) != 0 || setuid(kUid) != 0) _exit(2);
      if (write(started[1], "r", 1) != 1) _exit(3);
      close(started[1]);
      for (int i = 0; i < 1000000; i++) {
        const pid_t p = fork();
        if (p != 0) _exit(0);
      }
      _exit(0);
    }
    if (fork() == 0) {
      setsid();
      Become("wkill-daemon", kUid, true);
    }
    if (fork() == 0) Become("wkill-root", 0, true);  // what the account's sudo would start
    Become("wkill-opener", 0, false);
  }
  close(go[0]);
  close(started[1]);
  absl::Status confined = cgroups_->Confine(kUid, "s-test1", opener);
  ASSERT_TRUE(confined.ok()) << confined.message();
  ASSERT_EQ(write(go[1], "x", 1), 1);
  close(go[1]);
  char c;
  ASSERT_EQ(read(started[0], &c, 1), 1) << "the fork runner did not start";
  close(started[0]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (LiveNamed("wkill-").size() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(LiveNamed("wkill-").size(), 3u) << "the attack did not start";
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the runner is well under way

  auto killed = cgroups_->KillAccounts({kUid}, 5000);
  ASSERT_TRUE(killed.ok()) << killed.status().message();
  EXPECT_GE((*killed)[kUid], 3);
  int status = 0;
  ASSERT_EQ(waitpid(opener, &status, 0), opener);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_EQ(LiveNamed("wkill-"), std::vector<std::string>{}) << "every process of the session is gone";
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/u1879999001-s-test1")) << "its cgroup is removed";
  // Nothing left: a second end is a no-op.
  killed = cgroups_->KillAccounts({kUid}, 1000);
  ASSERT_TRUE(killed.ok());
  EXPECT_TRUE(killed->empty());
}

TEST_F(SessionCgroupsTest, OtherAccountsAndEmptiedSessionsAreLeftAlone) {
  const pid_t other = fork();
  if (other == 0) Become("wkeep-other", 0, false);
  ASSERT_TRUE(cgroups_->Confine(kUid + 1, "s-other", other).ok());
  const pid_t done = fork();
  if (done == 0) Become("wkeep-done", 0, false);
  ASSERT_TRUE(cgroups_->Confine(kUid, "s-done", done).ok());
  kill(done, SIGKILL);
  waitpid(done, nullptr, 0);
  cgroups_->Release(kUid, "s-done");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/u1879999001-s-done")) << "an empty session cgroup goes";
  ASSERT_TRUE(cgroups_->KillAccounts({kUid}, 1000).ok());
  EXPECT_EQ(kill(other, 0), 0) << "another account's session is not touched";
  cgroups_->Release(kUid + 1, "s-other");
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/u1879999002-s-other")) << "a busy cgroup stays";
  ASSERT_TRUE(cgroups_->KillAccounts({kUid + 1}, 5000).ok());
  waitpid(other, nullptr, 0);
}

// What a run of wardend finds when it starts: every session cgroup, and the processes in one.
TEST_F(SessionCgroupsTest, SessionsAndTheirProcessesAreListed) {
  std::vector<pid_t> kids;
  for (int i = 0; i < 3; i++) {
    const pid_t p = fork();
    if (p == 0) Become("wlist-proc", 0, false);
    kids.push_back(p);
  }
  ASSERT_TRUE(cgroups_->Confine(kUid, "s-a-1", kids[0]).ok());
  ASSERT_TRUE(cgroups_->Confine(kUid, "s-a-1", kids[1]).ok());
  ASSERT_TRUE(cgroups_->Confine(kUid + 1, "s-b", kids[2]).ok());
  ASSERT_EQ(mkdir((dir_ + "/not-a-session").c_str(), 0755), 0);
  auto sessions = cgroups_->Sessions();
  std::sort(sessions.begin(), sessions.end());
  EXPECT_EQ(sessions, (std::vector<std::pair<uint32_t, std::string>>{{kUid, "s-a-1"}, {kUid + 1, "s-b"}}));
  std::vector<pid_t> in_a = cgroups_->Processes(kUid, "s-a-1");
  std::sort(in_a.begin(), in_a.end());
  EXPECT_EQ(in_a, (std::vector<pid_t>{std::min(kids[0], kids[1]), std::max(kids[0], kids[1])}));
  EXPECT_EQ(cgroups_->Processes(kUid + 1, "s-b"), std::vector<pid_t>{kids[2]});
  EXPECT_TRUE(cgroups_->Processes(kUid, "s-none").empty());
  rmdir((dir_ + "/not-a-session").c_str());
  ASSERT_TRUE(cgroups_->KillAccounts({kUid, kUid + 1}, 5000).ok());
  for (pid_t p : kids) waitpid(p, nullptr, 0);
}

// A paused session is frozen: SIGCONT (from another session of the account, say) wakes nothing;
// and ending it kills what is in it, frozen or not.
TEST_F(SessionCgroupsTest, AFrozenSessionIgnoresSigcontAndEndsWhole) {
  int beat[2];
  ASSERT_EQ(pipe2(beat, O_NONBLOCK), 0);
  const pid_t worker = fork();
  if (worker == 0) {
    close(beat[0]);
    setsid();  // detached, not on any terminal
    prctl(PR_SET_NAME, "wfrz-worker");
    while (true) {
      if (write(beat[1], "b", 1) < 0 && errno != EAGAIN) _exit(1);
      usleep(10000);
    }
  }
  close(beat[1]);
  ASSERT_TRUE(cgroups_->Confine(kUid, "s-frz", worker).ok());
  auto beats = [&] {
    char buf[4096];
    ssize_t total = 0, n;
    while ((n = read(beat[0], buf, sizeof buf)) > 0) total += n;
    return total;
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_GT(beats(), 0) << "the worker runs";
  ASSERT_TRUE(cgroups_->Freeze(kUid, "s-frz", true).ok());
  const std::string events = dir_ + "/u1879999001-s-frz/cgroup.events";
  for (int i = 0; i < 100 && testing::ReadAll(events).find("frozen 1") == std::string::npos; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(testing::ReadAll(events).find("frozen 1"), std::string::npos);
  beats();
  kill(worker, SIGCONT);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(beats(), 0) << "SIGCONT woke a frozen session";
  ASSERT_TRUE(cgroups_->Freeze(kUid, "s-frz", false).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_GT(beats(), 0) << "thawed, it runs again";
  ASSERT_TRUE(cgroups_->Freeze(kUid, "s-frz", true).ok());
  auto killed = cgroups_->KillSession(kUid, "s-frz", 5000);
  ASSERT_TRUE(killed.ok()) << killed.status().message();
  EXPECT_EQ(*killed, 1);
  int status = 0;
  ASSERT_EQ(waitpid(worker, &status, 0), worker);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/u1879999001-s-frz")) << "its cgroup is removed";
  close(beat[0]);
}

TEST(RemoveHome, NeverFollowsADirectorySwappedForASymlinkMidWalk) {
  testing::TempDir dir;
  const std::string home = dir / "home", outside = dir / "outside";
  ASSERT_EQ(mkdir(outside.c_str(), 0755), 0);
  for (int i = 0; i < 40; i++) testing::WriteAll(StrCat(outside, "/f", i), "keep");
  std::atomic<bool> stop{false};
  for (int round = 0; round < 20; round++) {
    ASSERT_TRUE(CreateHome(home, kUid, kUid).ok());
    ASSERT_EQ(mkdir((home + "/a").c_str(), 0700), 0);
    for (int i = 0; i < 40; i++) testing::WriteAll(StrCat(home, "/a/f", i), "x");
    stop = false;
    // The user's last process flips home/a between the real directory and a symlink to a
    // directory of someone else's files with the same names.
    std::thread swapper([&] {
      const std::string a = home + "/a", real = home + "/a-real";
      for (int i = 0; i < 200000 && !stop; i++) {
        if (rename(a.c_str(), real.c_str()) != 0) continue;
        if (symlink(outside.c_str(), a.c_str()) == 0) unlink(a.c_str());
        rename(real.c_str(), a.c_str());
      }
    });
    absl::StatusOr<bool> removed = RemoveHome(home, kUid);
    stop = true;
    swapper.join();
    for (int tries = 0; tries < 5 && std::filesystem::exists(home); tries++) {
      removed = RemoveHome(home, kUid);
    }
    ASSERT_TRUE(removed.ok()) << removed.status().message();
    EXPECT_FALSE(std::filesystem::exists(home));
    for (int i = 0; i < 40; i++) {
      ASSERT_EQ(testing::ReadAll(StrCat(outside, "/f", i)), "keep")
          << "round " << round << ": root's unlink left the home through a swapped symlink";
    }
  }
}

TEST(RemoveHome, RefusesWhatIsNotTheAccountsDirectoryAndNeverEntersAMount) {
  testing::TempDir dir;
  const std::string home = dir / "home";
  ASSERT_EQ(symlink("/etc", home.c_str()), 0);
  absl::StatusOr<bool> removed = RemoveHome(home, kUid);
  EXPECT_FALSE(removed.ok());
  EXPECT_NE(removed.status().message().find("is not a directory; left in place"), std::string::npos)
      << removed.status().message();
  ASSERT_EQ(unlink(home.c_str()), 0);
  ASSERT_TRUE(CreateHome(home, kUid, kUid).ok());
  ASSERT_EQ(mkdir((home + "/mnt").c_str(), 0700), 0);
  ASSERT_EQ(system(("mount -t tmpfs -o size=64k tmpfs " + home + "/mnt").c_str()), 0);
  testing::WriteAll(home + "/mnt/data", "x");
  removed = RemoveHome(home, kUid);
  EXPECT_FALSE(removed.ok());
  EXPECT_NE(removed.status().message().find("another file system mounted inside the home"),
            std::string::npos) << removed.status().message();
  EXPECT_EQ(testing::ReadAll(home + "/mnt/data"), "x") << "nothing removed across the mount";
  ASSERT_EQ(system(("umount " + home + "/mnt").c_str()), 0);
  // A bind mount of a directory of the same file system (what the account's sudo could make of
  // /): same st_dev, another mount.
  const std::string outside = dir / "outside";
  ASSERT_EQ(mkdir(outside.c_str(), 0755), 0);
  testing::WriteAll(outside + "/keep", "keep");
  ASSERT_EQ(system(("mount --bind " + outside + " " + home + "/mnt").c_str()), 0);
  removed = RemoveHome(home, kUid);
  EXPECT_FALSE(removed.ok());
  EXPECT_NE(removed.status().message().find("another file system mounted inside the home"),
            std::string::npos) << removed.status().message();
  ASSERT_EQ(system(("umount " + home + "/mnt").c_str()), 0);
  EXPECT_EQ(testing::ReadAll(outside + "/keep"), "keep") << "nothing removed through the bind mount";
  removed = RemoveHome(home, kUid);
  ASSERT_TRUE(removed.ok()) << removed.status().message();
  EXPECT_TRUE(*removed);
}

}  // namespace
}  // namespace warden
