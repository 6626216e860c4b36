// The real BPF recorder in this kernel: a process that holds a pty master (as sshd does) runs a
// shell on the slave; what the shell printed, what was typed, the password typed at `read -s`,
// the window size and the programs run come back from the ring buffer, and a process outside
// the session, doing the same thing at the same time, is not recorded.
#include "daemon/kernel_recorder.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <gtest/gtest.h>
#include <mutex>
#include <thread>

#include "tests/test_util.h"

namespace warden {
namespace {

using testing::ReadUntil;

constexpr const char* kScript =
    "read -p 'name: ' N; echo hello-$N; read -s -p 'pw: ' P; echo; echo got-${#P}";

// Waits for a byte on `go`, then plays a terminal: answers the shell's prompts with `name` and a
// 7-letter password. Exits 0 if the conversation went as expected.
pid_t Terminal(int go, const std::string& name) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  char b;
  if (read(go, &b, 1) != 1) _exit(10);
  const testing::PtyChild shell = testing::SpawnOnPty({"/bin/bash", "--norc", "-c", kScript}, 30, 100);
  if (shell.pid < 0) _exit(11);
  const int master = shell.master;
  std::string seen;
  if (!ReadUntil(master, "name: ", seen)) _exit(14);
  std::string line = name + "\n";
  if (write(master, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(15);
  if (!ReadUntil(master, "pw: ", seen)) _exit(16);
  if (write(master, "hunter2\n", 8) != 8) _exit(17);
  if (!ReadUntil(master, "got-7", seen)) _exit(18);
  int status = 0;
  waitpid(shell.pid, &status, 0);
  _exit(0);
}

struct Captured {
  std::mutex mu;
  std::string output, input;
  uint32_t redacted = 0;
  std::vector<ExecEvent> execs;
  std::vector<TerminalResize> resizes;
};

class RecorderTest : public ::testing::TestWithParam<InputMode> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "loading BPF programs needs root";
    auto r = Recorder::Load([this](uint64_t session, uint64_t, KernelLosses lost, RecordingEvent ev) {
      std::lock_guard lock(c_.mu);
      EXPECT_EQ(session, 7u);
      EXPECT_EQ(lost.bytes, 0u);
      EXPECT_EQ(lost.events, 0u);
      if (auto* o = std::get_if<TerminalOutput>(&ev.kind)) c_.output += o->data;
      if (auto* i = std::get_if<TerminalInput>(&ev.kind)) c_.input += i->data;
      if (auto* r = std::get_if<InputRedacted>(&ev.kind)) c_.redacted += r->bytes;
      if (auto* x = std::get_if<ExecEvent>(&ev.kind)) c_.execs.push_back(*x);
      if (auto* r = std::get_if<TerminalResize>(&ev.kind)) c_.resizes.push_back(*r);
    });
    ASSERT_TRUE(r.ok()) << r.status().message();
    recorder_ = std::move(*r);
  }
  Captured c_;
  std::unique_ptr<Recorder> recorder_;
};

TEST_P(RecorderTest, RecordsTheSessionAndOnlyIt) {
  EXPECT_FALSE(recorder_->attached()) << "no session, no programs attached";
  int recorded[2], other[2];
  ASSERT_EQ(pipe(recorded), 0);
  ASSERT_EQ(pipe(other), 0);
  pid_t in = Terminal(recorded[0], "bob");
  pid_t out = Terminal(other[0], "eve");
  ASSERT_TRUE(recorder_->Begin(7, in, GetParam()).ok());
  EXPECT_TRUE(recorder_->attached());
  ASSERT_EQ(write(recorded[1], "g", 1), 1);
  ASSERT_EQ(write(other[1], "g", 1), 1);
  for (pid_t pid : {in, out}) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "terminal exit " << status;
  }
  for (int i = 0; i < 20; i++) {
    recorder_->Poll(50);
    std::lock_guard lock(c_.mu);
    if (c_.output.find("got-7") != std::string::npos) break;
  }
  const KernelLosses lost = recorder_->End(7);
  EXPECT_EQ(lost.bytes, 0u) << "nothing lost";
  EXPECT_EQ(lost.events, 0u);
  EXPECT_FALSE(recorder_->attached());
  for (int fd : {recorded[0], recorded[1], other[0], other[1]}) close(fd);

  std::lock_guard lock(c_.mu);
  // The screen, the kernel's echo of the name included; never the password (echo was off).
  EXPECT_NE(c_.output.find("name: bob\r\nhello-bob\r\npw: "), std::string::npos) << c_.output;
  EXPECT_NE(c_.output.find("got-7"), std::string::npos);
  EXPECT_EQ(c_.output.find("hunter2"), std::string::npos);
  EXPECT_EQ(c_.output.find("eve"), std::string::npos) << "the other terminal is not recorded";
  switch (GetParam()) {
    case InputMode::kRedactSecrets:
      EXPECT_EQ(c_.input, "bob\n");
      EXPECT_EQ(c_.redacted, 8u);
      break;
    case InputMode::kAll:
      EXPECT_EQ(c_.input, "bob\nhunter2\n");
      EXPECT_EQ(c_.redacted, 0u);
      break;
    case InputMode::kOff:
      EXPECT_EQ(c_.input, "");
      EXPECT_EQ(c_.redacted, 0u);
      break;
  }
  ASSERT_EQ(c_.resizes.size(), 1u);
  EXPECT_EQ(c_.resizes[0].cols, 100u);
  EXPECT_EQ(c_.resizes[0].rows, 30u);
  ASSERT_EQ(c_.execs.size(), 1u);
  EXPECT_EQ(c_.execs[0].filename, "/bin/bash");
  ASSERT_EQ(c_.execs[0].argv.size(), 4u);
  EXPECT_EQ(c_.execs[0].argv[3], kScript);
  EXPECT_EQ(c_.execs[0].uid, 0u);
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
  EXPECT_EQ(c_.execs[0].cwd, cwd);
}

INSTANTIATE_TEST_SUITE_P(InputModes, RecorderTest,
                         ::testing::Values(InputMode::kRedactSecrets, InputMode::kAll,
                                           InputMode::kOff));

TEST(RecorderInputMode, ParsesThePolicyWords) {
  EXPECT_EQ(*ParseInputMode("redact"), InputMode::kRedactSecrets);
  EXPECT_EQ(*ParseInputMode("full"), InputMode::kAll);
  EXPECT_EQ(*ParseInputMode("all"), InputMode::kAll) << "the older spelling of full";
  EXPECT_EQ(*ParseInputMode("off"), InputMode::kOff);
  auto bad = ParseInputMode("some");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown recording input mode \"some\""), std::string::npos);
}

}  // namespace
}  // namespace warden
