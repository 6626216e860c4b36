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
#include "daemon/session_recorder.h"
#include "tests/test_util.h"

namespace warden {
namespace {

using testing::ReadUntil;

constexpr uint64_t kSession = 9;

bool Say(int fd, const std::string& s) {
  return write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size());
}

// A child that waits for a byte on the returned pipe, then runs `body` and exits with its result.
template <typename F>
pid_t Gated(int* go, F body) {
  int p[2];
  if (pipe(p) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(p[1]);
    char b;
    if (read(p[0], &b, 1) != 1) _exit(10);
    _exit(body());
  }
  close(p[0]);
  *go = p[1];
  return pid;
}

int Reap(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

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
  ASSERT_GT(broker, 0);
  ASSERT_TRUE(recorder_->Begin(kSession, broker, InputMode::kRedactSecrets).ok());
  ASSERT_EQ(write(go, "g", 1), 1);
  EXPECT_EQ(Reap(broker), 0);
  close(go);
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
  ASSERT_GT(broker, 0);
  ASSERT_TRUE(recorder_->Begin(kSession, broker, InputMode::kRedactSecrets).ok());
  ASSERT_EQ(write(go, "g", 1), 1);
  EXPECT_EQ(Reap(broker), 0);
  close(go);
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
  ASSERT_GT(broker, 0);
  ASSERT_TRUE(recorder_->Begin(kSession, broker, InputMode::kRedactSecrets).ok());
  ASSERT_EQ(write(go, "g", 1), 1);
  EXPECT_EQ(Reap(broker), 0);
  close(go);
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
  ASSERT_GT(child, 0);
  ASSERT_TRUE(recorder_->Begin(kSession, child, InputMode::kRedactSecrets).ok());
  ASSERT_EQ(write(go, "g", 1), 1);
  EXPECT_EQ(Reap(child), 0);
  close(go);
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
  ASSERT_GT(child, 0);
  ASSERT_TRUE(recorder_->Begin(kSession, child, InputMode::kRedactSecrets).ok());
  ASSERT_EQ(write(go, "g", 1), 1);
  EXPECT_EQ(Reap(child), 0);
  close(go);
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

// wardend's half: more redacted lines than the role allows flag the session with an alert in its
// recording; a best-effort session goes on.
// One recorded session on a pty whose echo is off, typing `lines` commands then exit; the events
// of its recording.
std::vector<v1::RecordingEvent> QuietSession(SessionRecorder& sessions, RecordingSpool& spool,
                                             const HostSession& s, const LocalAccount& account,
                                             int lines,
                                             const std::function<void()>& before_end = nullptr) {
  int go = -1;
  pid_t broker = Gated(&go, [lines] {
    const testing::PtyChild sh = testing::SpawnOnPty(
        {"/bin/bash", "--norc", "-c", "stty -echo; echo ready; while read -r l; do eval \"$l\"; done"},
        24, 80);
    std::string seen;
    if (sh.pid < 0 || !ReadUntil(sh.master, "ready", seen)) return 11;
    for (int i = 1; i <= lines; i++) {
      if (!Say(sh.master, "echo line-$((" + std::to_string(i) + "*11))\r") ||
          !ReadUntil(sh.master, "line-" + std::to_string(i * 11), seen))
        return 12;
    }
    if (!Say(sh.master, "exit\r")) return 15;
    waitpid(sh.pid, nullptr, 0);
    return 0;
  });
  EXPECT_GT(broker, 0);
  if (broker <= 0) return {};
  EXPECT_TRUE(sessions.SessionOpened(s, account, broker).ok());
  EXPECT_EQ(write(go, "g", 1), 1);
  EXPECT_EQ(Reap(broker), 0) << "best effort: the session goes on";
  close(go);
  if (before_end) before_end();
  sessions.SessionEnded(s);
  std::vector<v1::RecordingEvent> events;
  bool final = false;
  for (int i = 0; i < 100 && !final; i++) {
    for (const RecordingChunk& c : spool.Next(50)) {
      auto got = DecompressEvents(c.events_zstd);
      EXPECT_TRUE(got.ok());
      if (!got.ok()) continue;
      for (const auto& ev : got->events()) events.push_back(ev);
      final |= c.final;
    }
  }
  EXPECT_TRUE(final) << "the recording of " << s.id << " did not end";
  return events;
}

class RedactionLimit : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "loading BPF programs needs root";
    recorder_ = Recorder::Load([this](uint64_t key, uint64_t mono_ns, KernelLosses lost,
                                      RecordingEvent ev) {
      sessions_->OnEvent(key, mono_ns, lost, std::move(ev));
    });
    ASSERT_TRUE(recorder_.ok()) << recorder_.status().message();
    sessions_ = std::make_unique<SessionRecorder>(spool_, recorder_->get(), "", [] { return true; });
  }
  // After the recorder is set up as the test wants it (SetHoldForModerator).
  void StartCapture() {
    capture_ = std::thread([this] { sessions_->RunCapture(stop_); });
  }
  void TearDown() override {
    stop_ = true;
    if (capture_.joinable()) capture_.join();
  }
  static std::vector<std::string> Alerts(const std::vector<v1::RecordingEvent>& events) {
    std::vector<std::string> out;
    for (const auto& ev : events) {
      if (ev.has_alert()) {
        EXPECT_EQ(ev.alert().kind(), "redaction_limit");
        out.push_back(ev.alert().message());
      }
    }
    return out;
  }
  absl::StatusOr<std::unique_ptr<Recorder>> recorder_ = absl::UnknownError("not loaded");
  RecordingSpool spool_{EncodeRecordingEvents};
  std::unique_ptr<SessionRecorder> sessions_;
  std::atomic<bool> stop_{false};
  std::thread capture_;
};

TEST_F(RedactionLimit, BeyondTheRolesLimitTheRecordingCarriesAnAlert) {
  HostSession s;
  s.id = "s-quiet";
  LocalAccount account;
  account.max_redacted_lines = 2;
  StartCapture();
  const std::vector<v1::RecordingEvent> events = QuietSession(*sessions_, spool_, s, account, 3);
  int lines = 0;
  for (const auto& ev : events) lines += ev.has_redacted_line();
  EXPECT_EQ(lines, 4) << "three commands and exit";
  const std::vector<std::string> alerts = Alerts(events);
  ASSERT_EQ(alerts.size(), 1u) << "flagged once";
  EXPECT_NE(alerts[0].find("3 lines typed without echo (redacted) in session s-quiet, more than "
                           "its role allows (recording.max_redacted_lines: 2)"),
            std::string::npos)
      << alerts[0];
}

// The limit is the account's: lines spread over several logins add up.
TEST_F(RedactionLimit, LinesSpreadOverSessionsOfOneAccountAddUp) {
  LocalAccount account;
  account.uid = 1879048555;
  account.max_redacted_lines = 3;
  HostSession first, second;
  first.id = "s-first";
  second.id = "s-second";
  first.uid = second.uid = account.uid;
  StartCapture();
  // Two lines and exit: 3, at the limit.
  EXPECT_TRUE(Alerts(QuietSession(*sessions_, spool_, first, account, 2)).empty());
  // Another login, each line within a session's own budget, but over the account's.
  const std::vector<std::string> alerts = Alerts(QuietSession(*sessions_, spool_, second, account, 2));
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_NE(alerts[0].find("in session s-second (4 in all the account's sessions here), more than "
                           "its role allows (recording.max_redacted_lines: 3)"),
            std::string::npos)
      << alerts[0];
}

// on_redaction_limit: hold: the recorder asks the agent (here a stand-in) to hold the session,
// once, from its capture thread and without its own lock (the agent calls back into it).
TEST_F(RedactionLimit, AHoldRoleAsksTheAgentToHoldTheSessionOnce) {
  HostSession s;
  s.id = "s-held";
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> holds;
  sessions_->SetHoldForModerator([&](const std::string& id, const std::string& reason) {
    // What the agent does: call the observer back. With the recorder's lock held this would
    // never return.
    sessions_->ResumeSession(s, "");
    std::lock_guard lock(mu);
    holds.emplace_back(id, reason);
  });
  StartCapture();
  LocalAccount account;
  account.max_redacted_lines = 1;
  account.on_redaction_limit = OnRedactionLimit::kHold;
  // The stand-in agent holds nothing: the session goes on. Still open, the lines are drained
  // within the capture's next polls.
  const std::vector<v1::RecordingEvent> events = QuietSession(*sessions_, spool_, s, account, 3, [&] {
    for (int i = 0; i < 100; i++) {
      {
        std::lock_guard lock(mu);
        if (!holds.empty()) break;
      }
      usleep(50000);
    }
  });
  std::lock_guard lock(mu);
  ASSERT_EQ(holds.size(), 1u) << "held once, at the second line";
  EXPECT_EQ(holds[0].first, "s-held");
  EXPECT_EQ(holds[0].second,
            "more lines were typed without echo than its role allows (1); the recording cannot "
            "show them");
  const std::vector<std::string> alerts = Alerts(events);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_NE(alerts[0].find("2 lines typed without echo (redacted) in session s-held, more than its "
                           "role allows (recording.max_redacted_lines: 1); holding it for a "
                           "moderator"),
            std::string::npos)
      << alerts[0];
}

}  // namespace
}  // namespace warden
