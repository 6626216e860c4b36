// The file one run of wardend leaves for the next across a restart (daemon/handover.h).
#include "daemon/handover.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace warden {
namespace {

class HandoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/warden-handover.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/recordings.handover";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_, path_;
};

TEST_F(HandoverTest, WhatOneRunWritesTheNextReadsOnce) {
  Handover h;
  Handover::Session s;
  s.host.id = "s-1";
  s.host.user = "adm-alice-7k2f";
  s.host.service = "sshd";
  s.host.tty = "ssh";
  s.host.rhost = "10.0.0.9";
  s.host.grant_id = "g-1";
  s.host.uid = 2000001;
  s.host.pid = 4242;
  s.host.root = 4241;
  s.host.root_start = 987654;
  s.host.opened = 1700000000;
  s.host.moderation = HostSession::Moderation::kPaused;
  s.host.moderators_required = 1;
  s.host.pause_on_leave = true;
  s.recording.spool = {.id = "s-1",
                       .info = {.user = "adm-alice-7k2f",
                                .service = "sshd",
                                .tty = "ssh",
                                .rhost = "",
                                .grant_id = "g-1",
                                .started_unix_ns = 17},
                       .start_mono_ns = 5000,
                       .seq = 9,
                       .strict = true,
                       .dropped = 3};
  s.recording.frozen = true;
  s.recording.paused = true;
  s.recording.stopped_mono_ns = 9000;
  s.recording.redacted_lines = 2;
  h.sessions.push_back(s);
  RecordingChunk c;
  c.session_id = "s-1";
  c.seq = 9;
  c.events_zstd = std::string("\0\1\2", 3);
  c.session = s.recording.spool.info;
  h.unacked.push_back(c);
  ASSERT_TRUE(WriteHandover(path_, h).ok());
  EXPECT_EQ(std::filesystem::status(path_).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  auto taken = TakeHandover(path_);
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_TRUE(taken->has_value());
  EXPECT_FALSE(std::filesystem::exists(path_)) << "read once: the file is deleted";
  const Handover& got = **taken;
  ASSERT_EQ(got.sessions.size(), 1u);
  const Handover::Session& g = got.sessions[0];
  EXPECT_EQ(g.host.user, "adm-alice-7k2f");
  EXPECT_EQ(g.host.rhost, "10.0.0.9");
  EXPECT_EQ(g.host.uid, 2000001u);
  EXPECT_EQ(g.host.root, 4241);
  EXPECT_EQ(g.host.root_start, 987654u);
  EXPECT_EQ(g.host.moderation, HostSession::Moderation::kPaused);
  EXPECT_TRUE(g.host.pause_on_leave);
  EXPECT_EQ(g.recording.spool.seq, 9u);
  EXPECT_EQ(g.recording.spool.start_mono_ns, 5000);
  EXPECT_TRUE(g.recording.spool.strict);
  EXPECT_EQ(g.recording.spool.dropped, 3u);
  EXPECT_EQ(g.recording.spool.info.started_unix_ns, 17);
  EXPECT_TRUE(g.recording.frozen);
  EXPECT_TRUE(g.recording.paused);
  EXPECT_EQ(g.recording.redacted_lines, 2u);
  ASSERT_EQ(got.unacked.size(), 1u);
  EXPECT_EQ(got.unacked[0].events_zstd, c.events_zstd);
  EXPECT_EQ(got.unacked[0].seq, 9u);
  ASSERT_TRUE(got.unacked[0].session.has_value());
  EXPECT_EQ(got.unacked[0].session->grant_id, "g-1");

  auto again = TakeHandover(path_);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value()) << "no handover: a start after a stop without sessions";
}

TEST_F(HandoverTest, AFileThatIsNotAHandoverIsRefusedAndNeverReadTwice) {
  std::ofstream(path_) << "\xff\xff\xff not a handover";
  auto taken = TakeHandover(path_);
  ASSERT_FALSE(taken.ok());
  EXPECT_NE(taken.status().message().find("is not a handover of wardend's"), std::string::npos)
      << taken.status();
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST(HandoverPath, BesideTheAgentSocket) {
  HostConfig c;
  c.agent_socket = "/run/warden/agent.sock";
  EXPECT_EQ(HandoverPath(c), "/run/warden/recordings.handover");
}

}  // namespace
}  // namespace warden
