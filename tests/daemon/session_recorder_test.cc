// SessionRecorder over the real BPF recorder: more redacted lines than the role allows flag the
// session with an alert in its recording (a best-effort session goes on), counted per account,
// and a hold role asks the agent to hold the session.
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
#include "tests/daemon/gated_child.h"
#include "tests/test_util.h"

namespace warden {
namespace {

using testing::Gated;
using testing::ReadUntil;
using testing::Reap;
using testing::Say;

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
