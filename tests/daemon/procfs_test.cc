// ProcessTree finds a session's processes from its root without scanning every process on the
// host, including children forked by a thread other than the main one (the kernel lists those
// under that thread's own children file).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "daemon/procfs.h"

namespace warden {
namespace {

bool Has(const std::vector<pid_t>& v, pid_t p) { return std::find(v.begin(), v.end(), p) != v.end(); }

// A process that forks `n` sleeping children from its main thread and one from a second thread,
// and a grandchild under the first child; it reports the pids on `fd` and then waits to be killed.
[[noreturn]] void Family(int fd) {
  setpgid(0, 0);
  auto sleeper = [] {
    pid_t p = fork();
    if (p == 0) {
      pid_t g = fork();
      if (g == 0) pause();
      pause();
    }
    return p;
  };
  pid_t pids[2] = {sleeper(), 0};
  std::thread([&] { pids[1] = sleeper(); }).join();
  (void)!write(fd, pids, sizeof(pid_t) * 2);
  pause();
  _exit(0);
}

TEST(ProcessTree, ListsDescendantsOfEveryThreadAndNothingElse) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t bystander = fork();
  if (bystander == 0) pause();
  pid_t root = fork();
  if (root == 0) Family(fds[1]);
  pid_t kids[2] = {0, 0};
  ASSERT_EQ(read(fds[0], kids, sizeof kids), static_cast<ssize_t>(sizeof kids));
  // The grandchildren are forked by the children; wait until both are there.
  std::vector<pid_t> tree;
  for (int i = 0; i < 500 && tree.size() < 5; i++) {
    tree = ProcessTree(root);
    if (tree.size() < 5) usleep(10'000);
  }
  EXPECT_EQ(tree.size(), 5u);  // root, two children, two grandchildren
  EXPECT_EQ(tree.front(), root);
  EXPECT_TRUE(Has(tree, kids[0]));
  EXPECT_TRUE(Has(tree, kids[1])) << "the child forked by the second thread is missing";
  EXPECT_FALSE(Has(tree, bystander));
  EXPECT_FALSE(Has(tree, getpid()));
  kill(-root, SIGKILL);
  kill(bystander, SIGKILL);
  waitpid(root, nullptr, 0);
  waitpid(bystander, nullptr, 0);
  close(fds[0]);
  close(fds[1]);
}

TEST(ProcessTree, AProcessThatIsGoneIsJustItself) {
  pid_t p = fork();
  if (p == 0) _exit(0);
  waitpid(p, nullptr, 0);
  EXPECT_EQ(ProcessTree(p), std::vector<pid_t>{p});
}

TEST(ProcessStartTicks, NamesOneProcessNotItsReusedPid) {
  const uint64_t self = ProcessStartTicks(getpid());
  EXPECT_GT(self, 0u);
  EXPECT_EQ(ProcessStartTicks(getpid()), self);
  const pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_GT(child, 0);
  EXPECT_GE(ProcessStartTicks(child), self);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_EQ(ProcessStartTicks(child), 0u) << "a reaped process has no start time";
  EXPECT_EQ(ProcessStartTicks(0), 0u);
  EXPECT_EQ(ProcessStartTicks(-1), 0u);
}

}  // namespace
}  // namespace warden
