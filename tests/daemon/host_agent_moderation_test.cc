// Four-eyes on the host: a session of a role that requires moderators is held at PAM's session
// open (HOLD, then the final word on the same connection, read with the PAM module's own wire
// code), and the controller's moderator counts and terminations decide what happens next.
#include <unistd.h>

#include <mutex>

#include "common/agent_wire.h"
#include "tests/daemon/fixture.h"

namespace warden {
namespace {

using testing::kNow;

class RecordingObserver : public SessionObserver {
 public:
  absl::Status SessionOpened(const HostSession&, const LocalAccount&, pid_t) override {
    return absl::OkStatus();
  }
  void SessionEnded(const HostSession& s) override { Note("closed " + s.id); }
  void EndSession(const HostSession& s, const std::string& why) override {
    Note("end " + s.id + ": " + why);
  }
  void PauseSession(const HostSession& s, const std::string& why) override {
    Note("pause " + s.id + ": " + why);
  }
  void ResumeSession(const HostSession& s, const std::string& why) override {
    Note("resume " + s.id + ": " + why);
  }
  std::vector<std::string> Take() {
    std::lock_guard lock(mu_);
    return std::exchange(calls_, {});
  }

 private:
  void Note(std::string s) {
    std::lock_guard lock(mu_);
    calls_.push_back(std::move(s));
  }
  std::mutex mu_;
  std::vector<std::string> calls_;
};

class Moderation : public testing::AgentFixture {
 protected:
  void SetUp() override {
    AgentFixture::SetUp();
    agent_->SetSessionObserver(&observer_);
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    AgentFixture::TearDown();
  }
  void Grant(uint32_t required, const std::string& on_leave,
             const std::string& on_redaction_limit = "") {
    HostState st = testing::StateWith("adm-alice-7k2f", kNow + 3600);
    st.accounts[0].moderators_required = required;
    st.accounts[0].moderator_on_leave = on_leave;
    st.accounts[0].moderator_wait_seconds = 600;
    st.accounts[0].on_redaction_limit = on_redaction_limit;
    ASSERT_TRUE(agent_->Apply(st).ok());
  }
  // A running session of a role with on_redaction_limit: hold (no four-eyes).
  std::string OpenHoldable() {
    Grant(0, "", "hold");
    warden_agent_reply r = Open();
    EXPECT_EQ(r.verdict, WARDEN_VERDICT_ALLOW);
    return r.session_id;
  }
  static constexpr const char* kWhy = "more lines were typed without echo than its role allows (1)";
  // Opens a session the way pam_warden.so does; the connection stays open in fd_.
  warden_agent_reply Open() {
    uint8_t frame[512];
    const size_t len = warden_agent_encode_session_open(frame, sizeof frame, "adm-alice-7k2f",
                                                        "sshd", "ssh", 0, "127.0.0.1");
    fd_ = warden_agent_connect(config_.agent_socket.c_str(), 5000);
    warden_agent_reply r{};
    EXPECT_GE(fd_, 0);
    EXPECT_EQ(warden_agent_roundtrip(fd_, frame, len, 5000, &r), 0);
    return r;
  }
  // The final word after HOLD, if one comes within `ms`.
  std::optional<warden_agent_reply> Final(int ms) {
    warden_agent_reply r{};
    if (warden_agent_read_reply(fd_, ms, &r) != 0) return std::nullopt;
    return r;
  }
  static SessionControl Watching(uint32_t n) {
    SessionControl c;
    c.moderators = n;
    return c;
  }

  RecordingObserver observer_;
  int fd_ = -1;
};

TEST_F(Moderation, TheLoginWaitsUntilEnoughModeratorsWatch) {
  Grant(2, "terminate");
  warden_agent_reply held = Open();
  ASSERT_EQ(held.verdict, WARDEN_VERDICT_HOLD);
  const std::string id = held.session_id;
  EXPECT_NE(std::string(held.message).find("starts once 2 moderators of its role watch it"),
            std::string::npos) << held.message;
  EXPECT_NE(std::string(held.message).find("wardenctl join " + id + " --mode moderator"),
            std::string::npos) << held.message;
  EXPECT_FALSE(Final(300)) << "no answer while nobody watches";
  agent_->Moderate(id, Watching(1));
  EXPECT_FALSE(Final(300)) << "one moderator of two is not enough";
  agent_->Moderate(id, Watching(2));
  auto go = Final(5000);
  ASSERT_TRUE(go);
  EXPECT_EQ(go->verdict, WARDEN_VERDICT_ALLOW);
  EXPECT_EQ(std::string(go->session_id), id);
  EXPECT_TRUE(observer_.Take().empty());
  // One leaves: on_leave terminate ends the session, once.
  agent_->Moderate(id, Watching(1));
  agent_->Moderate(id, Watching(0));
  EXPECT_EQ(observer_.Take(),
            std::vector<std::string>{"end " + id +
                                     ": Warden: this session is being ended: its moderator left "
                                     "(four-eyes)."});
}

TEST_F(Moderation, OnLeavePausePausesAndResumesThenEndsAfterTheWait) {
  Grant(1, "pause");
  const std::string id = Open().session_id;
  agent_->Moderate(id, Watching(1));
  ASSERT_EQ(Final(5000).value_or(warden_agent_reply{}).verdict, WARDEN_VERDICT_ALLOW);
  agent_->ModeratorsLost();  // the controller connection went away: nobody can be watching
  std::vector<std::string> calls = observer_.Take();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].rfind("pause " + id + ": Warden: this session is paused", 0), 0u) << calls[0];
  agent_->Moderate(id, Watching(1));
  calls = observer_.Take();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].rfind("resume " + id, 0), 0u) << calls[0];
  agent_->Moderate(id, Watching(0));
  ASSERT_EQ(observer_.Take().size(), 1u);
  now_ = kNow + 599;
  agent_->Enforce();
  EXPECT_TRUE(observer_.Take().empty()) << "still within the wait";
  now_ = kNow + 601;
  agent_->Enforce();
  calls = observer_.Take();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_NE(calls[0].find("no moderator returned within 600 s"), std::string::npos) << calls[0];
}

TEST_F(Moderation, AHeldLoginIsRefusedWhenTheWaitEnds) {
  Grant(1, "terminate");
  const std::string id = Open().session_id;
  now_ = kNow + 601;
  agent_->Enforce();
  auto no = Final(5000);
  ASSERT_TRUE(no);
  EXPECT_EQ(no->verdict, WARDEN_VERDICT_DENY);
  EXPECT_NE(std::string(no->message).find("no moderator joined within 600 s"), std::string::npos)
      << no->message;
  EXPECT_EQ(observer_.Take(), std::vector<std::string>{"closed " + id});
  EXPECT_TRUE(agent_->Sessions().empty());
  agent_->Moderate(id, Watching(1));  // too late: nothing left to start
  EXPECT_FALSE(Final(300));
}

TEST_F(Moderation, AModeratorsTerminateRefusesAHeldLoginAndEndsARunningOne) {
  Grant(1, "terminate");
  const std::string held = Open().session_id;
  SessionControl stop;
  stop.terminated_by = "bob";
  stop.reason = "wrong host";
  agent_->Moderate(held, stop);
  auto no = Final(5000);
  ASSERT_TRUE(no);
  EXPECT_EQ(no->verdict, WARDEN_VERDICT_DENY);
  EXPECT_STREQ(no->message, "Warden: moderator bob ended this session: wrong host");
  EXPECT_EQ(observer_.Take(), std::vector<std::string>{"closed " + held});
  close(fd_);

  const std::string running = Open().session_id;
  agent_->Moderate(running, Watching(1));
  ASSERT_EQ(Final(5000).value_or(warden_agent_reply{}).verdict, WARDEN_VERDICT_ALLOW);
  agent_->Moderate(running, stop);
  agent_->Moderate(running, Watching(0));  // leaving afterwards does not end it twice
  EXPECT_EQ(observer_.Take(),
            std::vector<std::string>{"end " + running +
                                     ": Warden: moderator bob ended this session: wrong host"});
}

TEST_F(Moderation, AHeldLoginIsRefusedWhenItsLeaseEndedWhileItWaited) {
  Grant(1, "terminate");
  const std::string id = Open().session_id;
  now_ = kNow + 3601;  // the lease ended; the enforcer has not run yet
  agent_->Moderate(id, Watching(1));
  auto no = Final(5000);
  ASSERT_TRUE(no);
  EXPECT_EQ(no->verdict, WARDEN_VERDICT_DENY);
  EXPECT_NE(std::string(no->message).find("the lease of adm-alice-7k2f ended"), std::string::npos)
      << no->message;
  EXPECT_TRUE(agent_->Sessions().empty());
}

TEST_F(Moderation, AHeldLoginIsRefusedWhenItsGrantIsRevokedWhileItWaits) {
  Grant(1, "terminate");
  Open();
  HostState revoked = testing::StateWith("", 0, 2);
  ASSERT_TRUE(agent_->Apply(revoked).ok());
  agent_->Enforce();  // no moderator ever joins: the revocation alone refuses it
  auto no = Final(5000);
  ASSERT_TRUE(no);
  EXPECT_EQ(no->verdict, WARDEN_VERDICT_DENY);
  EXPECT_NE(std::string(no->message).find("has ended (revoked"), std::string::npos) << no->message;
  EXPECT_TRUE(agent_->Sessions().empty());
}

TEST_F(Moderation, AccountsWithoutModeratorsStartAtOnce) {
  Grant(0, "");
  warden_agent_reply r = Open();
  EXPECT_EQ(r.verdict, WARDEN_VERDICT_ALLOW);
  agent_->Moderate(r.session_id, Watching(0));
  EXPECT_TRUE(observer_.Take().empty());
}

// on_redaction_limit: hold. The recorder calls HoldForModerator from its capture thread.

TEST_F(Moderation, AHeldSessionIsPausedUntilAModeratorWatchesAndThenStaysModerated) {
  const std::string id = OpenHoldable();
  agent_->HoldForModerator(id, kWhy);
  EXPECT_EQ(observer_.Take(), std::vector<std::string>{
                                  "pause " + id + ": Warden: this session is paused: " + kWhy +
                                  ". It resumes when a moderator watches it (wardenctl join " + id +
                                  " --mode moderator), and is ended if none does within 600 s."});
  agent_->HoldForModerator(id, kWhy);  // a second call while held changes nothing
  EXPECT_TRUE(observer_.Take().empty());
  agent_->Moderate(id, Watching(1));
  EXPECT_EQ(observer_.Take(),
            std::vector<std::string>{"resume " + id +
                                     ": Warden: 1 moderator now watching; the session resumes, "
                                     "and goes on while one watches."});
  // The moderator leaves: paused again, as four-eyes with on_leave pause; back, resumed.
  agent_->Moderate(id, Watching(0));
  std::vector<std::string> calls = observer_.Take();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].rfind("pause " + id +
                               ": Warden: this session is paused: fewer than 1 "
                               "moderator watch it",
                           0),
            0u)
      << calls[0];
  agent_->Moderate(id, Watching(1));
  calls = observer_.Take();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0],
            "resume " + id + ": Warden: a moderator is watching again; the session resumes.");
  now_ = kNow + 3000;
  agent_->Enforce();
  EXPECT_TRUE(observer_.Take().empty()) << "watched: no wait runs out";
}

TEST_F(Moderation, AHeldSessionNobodyJoinsIsEndedWhenTheWaitRunsOut) {
  const std::string id = OpenHoldable();
  now_ = kNow + 100;
  agent_->HoldForModerator(id, kWhy);
  ASSERT_EQ(observer_.Take().size(), 1u);
  now_ = kNow + 699;
  agent_->Enforce();
  EXPECT_TRUE(observer_.Take().empty()) << "still within the wait, counted from the hold";
  now_ = kNow + 700;
  agent_->Enforce();
  EXPECT_EQ(observer_.Take(),
            std::vector<std::string>{"end " + id +
                                     ": Warden: this session is being ended: it was held for a "
                                     "moderator, and none joined within 600 s."});
  agent_->Moderate(id, Watching(1));  // too late
  agent_->Enforce();
  EXPECT_TRUE(observer_.Take().empty()) << "ended once, never resumed";
}

TEST_F(Moderation, AModeratorsTerminateEndsAHeldSession) {
  const std::string id = OpenHoldable();
  agent_->HoldForModerator(id, kWhy);
  observer_.Take();
  SessionControl stop;
  stop.terminated_by = "bob";
  agent_->Moderate(id, stop);
  EXPECT_EQ(observer_.Take(),
            std::vector<std::string>{"end " + id + ": Warden: moderator bob ended this session"});
}

TEST_F(Moderation, AHoldWhileAModeratorWatchesAlreadyLetsTheSessionGoOnModerated) {
  const std::string id = OpenHoldable();
  agent_->Moderate(id, Watching(1));  // bob joined before the limit was reached
  agent_->HoldForModerator(id, kWhy);
  EXPECT_TRUE(observer_.Take().empty());
  agent_->Moderate(id, Watching(0));
  std::vector<std::string> calls = observer_.Take();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].rfind("pause " + id, 0), 0u) << calls[0];
}

TEST_F(Moderation, AHoldLeavesAFourEyesSessionToItsOwnRules) {
  Grant(1, "terminate", "hold");
  const std::string id = Open().session_id;
  agent_->HoldForModerator(id, kWhy);  // held at its start: no pty yet, but nothing changes
  EXPECT_TRUE(observer_.Take().empty());
  agent_->Moderate(id, Watching(1));
  ASSERT_EQ(Final(5000).value_or(warden_agent_reply{}).verdict, WARDEN_VERDICT_ALLOW);
  agent_->HoldForModerator(id, kWhy);  // watched already
  EXPECT_TRUE(observer_.Take().empty());
  agent_->Moderate(id, Watching(0));
  EXPECT_EQ(observer_.Take(),
            std::vector<std::string>{"end " + id +
                                     ": Warden: this session is being ended: its moderator left "
                                     "(four-eyes)."})
      << "on_leave terminate still applies";
}

TEST_F(Moderation, AHoldOfASessionThatHasEndedDoesNothing) {
  const std::string id = OpenHoldable();
  close(fd_);
  fd_ = -1;
  for (int i = 0; i < 100 && !agent_->Sessions().empty(); i++) usleep(10000);
  ASSERT_TRUE(agent_->Sessions().empty());
  observer_.Take();
  agent_->HoldForModerator(id, kWhy);
  EXPECT_TRUE(observer_.Take().empty());
}

TEST_F(Moderation, TheRedactionLimitActionComesFromTheControllerOrFromTheRecordingMode) {
  HostState st = testing::StateWith("adm-alice-7k2f", kNow + 3600);
  st.accounts[0].recording_mode = "strict";
  ASSERT_TRUE(agent_->Apply(st).ok());
  auto state = LoadLocalState(config_);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->accounts.at(0).on_redaction_limit, OnRedactionLimit::kEnd)
      << "an older controller: strict ends";
  st.revision = 2;
  st.accounts[0].on_redaction_limit = "alert";
  ASSERT_TRUE(agent_->Apply(st).ok());
  EXPECT_EQ(LoadLocalState(config_)->accounts.at(0).on_redaction_limit, OnRedactionLimit::kAlert);
  // A hold needs a wait, and only the three words are understood.
  st.revision = 3;
  st.accounts[0].on_redaction_limit = "hold";
  st.accounts[0].moderator_wait_seconds = 0;
  EXPECT_FALSE(agent_->Apply(st).ok());
  st.accounts[0].on_redaction_limit = "pause";
  st.accounts[0].moderator_wait_seconds = 60;
  EXPECT_FALSE(agent_->Apply(st).ok());
  st.accounts[0].on_redaction_limit = "hold";
  ASSERT_TRUE(agent_->Apply(st).ok());
  EXPECT_EQ(LoadLocalState(config_)->accounts.at(0).on_redaction_limit, OnRedactionLimit::kHold);
}

TEST_F(Moderation, AStateFileFromBeforeOnRedactionLimitKeepsItsBehaviour) {
  HostState st = testing::StateWith("adm-alice-7k2f", kNow + 3600);
  st.accounts[0].recording_mode = "strict";
  ASSERT_TRUE(agent_->Apply(st).ok());
  const std::string path = config_.StatePath("state.json");
  std::string text = testing::ReadAll(path);
  const size_t at = text.find("\"on_redaction_limit\"");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, std::string("\"on_redaction_limit\"").size(), "\"unknown_key\"");
  testing::WriteAll(path, text);
  auto state = LoadLocalState(config_);
  ASSERT_TRUE(state.ok()) << state.status().message();
  EXPECT_EQ(state->accounts.at(0).on_redaction_limit, OnRedactionLimit::kEnd);
}

}  // namespace
}  // namespace warden
