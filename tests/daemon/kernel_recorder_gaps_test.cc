// The real BPF recorder in this kernel, where a recording could go blind: a second terminal of
// the same session (an OpenSSH multiplexed channel), lines typed into a terminal without echo,
// an argv longer than the kernel copies, and exec events the ring buffer had no room for.
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "common/recording.h"
#include "daemon/kernel_recorder.h"
#include "daemon/proto_convert.h"
#include "daemon/recording_spool.h"
#include "tests/daemon/gated_child.h"
#include "tests/test_util.h"

namespace warden {
namespace {

using testing::Gated;
using testing::ReadUntil;
using testing::Reap;
using testing::Say;

constexpr uint64_t kSession = 9;

struct Captured {
  std::mutex mu;
  std::map<uint32_t, std::string> output;  // by terminal
  std::vector<RecordingEvent> events;
  KernelLosses last;
};

class RecorderGapsTest : public ::testing::Test {
 protected:
  void Load(RecorderOptions options = {}) {
    if (geteuid() != 0) GTEST_SKIP() << "loading BPF programs needs root";
    auto r = Recorder::Load(
        [this](uint64_t session, uint64_t, KernelLosses lost, RecordingEvent ev) {
          std::lock_guard lock(c_.mu);
          EXPECT_EQ(session, kSession);
          c_.last = lost;
          if (auto* o = std::get_if<TerminalOutput>(&ev.kind)) c_.output[ev.terminal] += o->data;
          c_.events.push_back(std::move(ev));
        },
        options);
    ASSERT_TRUE(r.ok()) << r.status().message();
    recorder_ = std::move(*r);
  }
  // Records `child` (waiting on `go`, from Gated) as session kSession, lets it run and reaps it.
  void RecordToExit(pid_t child, int go) {
    ASSERT_GT(child, 0);
    ASSERT_TRUE(recorder_->Begin(kSession, child, InputMode::kRedactSecrets).ok());
    ASSERT_EQ(write(go, "g", 1), 1);
    EXPECT_EQ(Reap(child), 0);
    close(go);
  }
  // Polls until `done` holds (5 s at most).
  template <typename F>
  void PollUntil(F done) {
    for (int i = 0; i < 100; i++) {
      recorder_->Poll(50);
      std::lock_guard lock(c_.mu);
      if (done()) return;
    }
  }
  Captured c_;
  std::unique_ptr<Recorder> recorder_;
};

// One broker process with two ptys, each with its own shell: what sshd does for a second session
// channel multiplexed over the same connection (ssh -S). Both are recorded, as terminals 0 and 1.
TEST_F(RecorderGapsTest, EveryPtyOfTheBrokerIsATerminalOfTheSession) {
  Load();
  if (!recorder_) return;
  int go = -1;
  pid_t broker = Gated(&go, [] {
    const testing::PtyChild a = testing::SpawnOnPty({"/bin/bash", "--norc", "-i"}, 24, 80);
    std::string seen_a, seen_b;
    if (a.pid < 0 || !Say(a.master, "echo first-$((20+1))\n") ||
        !ReadUntil(a.master, "first-21", seen_a))
      return 11;
    const testing::PtyChild b = testing::SpawnOnPty({"/bin/bash", "--norc", "-i"}, 30, 100);
    if (b.pid < 0 || !Say(b.master, "echo second-$((40+2))\n") ||
        !ReadUntil(b.master, "second-42", seen_b))
      return 12;
    if (!Say(a.master, "exit\n") || !Say(b.master, "exit\n")) return 13;
    waitpid(a.pid, nullptr, 0);
    waitpid(b.pid, nullptr, 0);
    return 0;
  });
  ASSERT_NO_FATAL_FAILURE(RecordToExit(broker, go));
  PollUntil([&] { return c_.output[1].find("second-42") != std::string::npos; });
  EXPECT_EQ(recorder_->Terminals(kSession).size(), 2u);
  recorder_->End(kSession);
  std::lock_guard lock(c_.mu);
  EXPECT_NE(c_.output[0].find("first-21"), std::string::npos) << c_.output[0];
  EXPECT_EQ(c_.output[0].find("second-42"), std::string::npos);
  EXPECT_NE(c_.output[1].find("second-42"), std::string::npos) << "the second pty's screen";
  bool resized = false;
  for (const auto& ev : c_.events) {
    const auto* r = std::get_if<TerminalResize>(&ev.kind);
    resized |= r && ev.terminal == 1 && r->cols == 100;
  }
  EXPECT_TRUE(resized) << "terminal 1's window size";
}

// A pty opened inside the session (script, tmux) is not a terminal of its own: what it shows
// reaches the session's terminal, and is recorded there once.
TEST_F(RecorderGapsTest, APtyNestedInTheSessionIsRecordedThroughItsTerminal) {
  Load();
  if (!recorder_) return;
  int go = -1;
  pid_t broker = Gated(&go, [] {
    const testing::PtyChild sh = testing::SpawnOnPty(
        {"/bin/bash", "--norc", "-c", "script -qec 'echo nested-$((1+2))' /dev/null; echo done"},
        24, 80);
    std::string seen;
    if (sh.pid < 0 || !ReadUntil(sh.master, "done", seen)) return 11;
    waitpid(sh.pid, nullptr, 0);
    return 0;
  });
  ASSERT_NO_FATAL_FAILURE(RecordToExit(broker, go));
  PollUntil([&] { return c_.output[0].find("done") != std::string::npos; });
  EXPECT_EQ(recorder_->Terminals(kSession).size(), 1u);
  recorder_->End(kSession);
  std::lock_guard lock(c_.mu);
  EXPECT_NE(c_.output[0].find("nested-3"), std::string::npos) << c_.output[0];
  EXPECT_EQ(c_.output.count(1), 0u) << "no second terminal";
}

// stty -echo, then a shell that reads commands without echoing them: every line is redacted,
// and each is a RedactedLine event with its length and the process that read it.
TEST_F(RecorderGapsTest, LinesTypedWithoutEchoAreEventsWithLengthAndReader) {
  Load();
  if (!recorder_) return;
  int go = -1;
  pid_t broker = Gated(&go, [] {
    const testing::PtyChild sh = testing::SpawnOnPty(
        {"/bin/bash", "--norc", "-c", "stty -echo; echo ready; while read -r l; do eval \"$l\"; done"},
        24, 80);
    std::string seen;
    if (sh.pid < 0 || !ReadUntil(sh.master, "ready", seen)) return 11;
    // One line in two writes (as keystrokes arrive), then two lines in one write (a paste).
    if (!Say(sh.master, "echo hid") || !Say(sh.master, "den-$((1+1))\r") ||
        !ReadUntil(sh.master, "hidden-2", seen))
      return 12;
    if (!Say(sh.master, "echo x\recho done-$((3+4))\r") || !ReadUntil(sh.master, "done-7", seen))
      return 13;
    if (!Say(sh.master, "exit\r")) return 14;
    waitpid(sh.pid, nullptr, 0);
    return 0;
  });
  ASSERT_NO_FATAL_FAILURE(RecordToExit(broker, go));
  auto lines = [&] {
    std::vector<RedactedLine> out;
    for (const auto& ev : c_.events)
      if (auto* l = std::get_if<RedactedLine>(&ev.kind)) out.push_back(*l);
    return out;
  };
  PollUntil([&] { return lines().size() >= 4; });
  recorder_->End(kSession);
  std::lock_guard lock(c_.mu);
  const std::vector<RedactedLine> got = lines();
  ASSERT_EQ(got.size(), 4u);
  const uint32_t want_bytes[] = {sizeof("echo hidden-$((1+1))") - 1, sizeof("echo x") - 1,
                                 sizeof("echo done-$((3+4))") - 1, sizeof("exit") - 1};
  for (size_t i = 0; i < got.size(); i++) {
    EXPECT_EQ(got[i].number, i + 1);
    EXPECT_EQ(got[i].bytes, want_bytes[i]) << "line " << i + 1;
    EXPECT_EQ(got[i].comm, "bash");
    EXPECT_GT(got[i].pid, 0);
  }
  for (const auto& ev : c_.events) {
    if (auto* i = std::get_if<TerminalInput>(&ev.kind)) {
      EXPECT_EQ(i->data.find("hidden"), std::string::npos) << "typed without echo: redacted";
    }
  }
}

// An argv longer than the kernel copies (REC_ARGV_MAX) says so, with its whole size.
TEST_F(RecorderGapsTest, AnArgvLongerThanTheCopyLimitIsMarkedTruncated) {
  Load();
  if (!recorder_) return;
  const std::string long_arg(3000, 'a');
  int go = -1;
  pid_t child = Gated(&go, [&] {
    execl("/bin/true", "/bin/true", long_arg.c_str(), static_cast<char*>(nullptr));
    return 127;
  });
  ASSERT_NO_FATAL_FAILURE(RecordToExit(child, go));
  auto exec = [&]() -> const ExecEvent* {
    for (const auto& ev : c_.events)
      if (auto* x = std::get_if<ExecEvent>(&ev.kind)) return x;
    return nullptr;
  };
  PollUntil([&] { return exec() != nullptr; });
  recorder_->End(kSession);
  std::lock_guard lock(c_.mu);
  ASSERT_NE(exec(), nullptr);
  const ExecEvent& x = *exec();
  EXPECT_TRUE(x.argv_truncated);
  EXPECT_EQ(x.argv_bytes, sizeof("/bin/true") + long_arg.size() + 1);
  ASSERT_EQ(x.argv.size(), 2u);
  EXPECT_EQ(x.argv[0], "/bin/true");
  EXPECT_LT(x.argv[1].size(), long_arg.size());
}

// Exec events the ring buffer has no room for (one page holds a single exec event, and nobody
// drains it meanwhile) are counted in the kernel and become a marker in the recording.
TEST_F(RecorderGapsTest, ExecEventsLostToAFullRingBufferAreMarked) {
  Load({.ring_bytes = 4096});
  if (!recorder_) return;
  int go = -1;
  pid_t child = Gated(&go, [] {
    execl("/bin/sh", "/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8; do /bin/true; done",
          static_cast<char*>(nullptr));
    return 127;
  });
  ASSERT_NO_FATAL_FAILURE(RecordToExit(child, go));
  const KernelLosses lost = recorder_->End(kSession);
  EXPECT_GE(lost.events, 7u) << "a 4 KiB ring buffer holds one exec event";
  EXPECT_EQ(lost.bytes, 0u);

  // What wardend makes of it: the spool marks the loss in the recording.
  RecordingSpool spool(EncodeRecordingEvents);
  spool.Open("s-lost", SessionInfo(), 0);
  recorder_->Poll(0);
  {
    std::lock_guard lock(c_.mu);
    for (auto& ev : c_.events) spool.Add("s-lost", 1, c_.last, ev);
  }
  spool.Close("s-lost", 2, 3, lost);
  uint64_t marked = 0;
  for (const RecordingChunk& c : spool.Next(0)) {
    auto events = DecompressEvents(c.events_zstd);
    ASSERT_TRUE(events.ok());
    for (const auto& ev : events->events()) marked += ev.lost_events();
  }
  EXPECT_EQ(marked, lost.events);
}

}  // namespace
}  // namespace warden
