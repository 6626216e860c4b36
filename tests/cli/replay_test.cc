#include "cli/replay.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/recording.h"

namespace warden::cli {
namespace {

v1::RecordingEvent Out(int64_t ns, const std::string& data) {
  v1::RecordingEvent ev;
  ev.set_offset_ns(ns);
  ev.set_output(data);
  return ev;
}

std::vector<v1::RecordingChunk> Chunks(const std::vector<std::vector<v1::RecordingEvent>>& parts) {
  std::vector<v1::RecordingChunk> out;
  for (const auto& part : parts) {
    v1::RecordingEvents events;
    for (const auto& ev : part) *events.add_events() = ev;
    v1::RecordingChunk c;
    c.set_seq(out.size() + 1);
    auto packed = CompressEvents(events);
    EXPECT_TRUE(packed.ok());
    c.set_events_zstd(packed->data(), packed->size());
    out.push_back(c);
  }
  return out;
}

TEST(Utf8JoinerTest, ACharacterSplitAcrossEventsIsJoined) {
  Utf8Joiner j;
  const std::string euro = "\xe2\x82\xac";  // €
  EXPECT_EQ(j.Take("a" + euro.substr(0, 1)), "a");
  EXPECT_EQ(j.Take(euro.substr(1, 1)), "");
  EXPECT_EQ(j.Take(euro.substr(2) + "b"), euro + "b");
  EXPECT_EQ(j.Take("\xff"), "\xff") << "an invalid byte is not held back";
  EXPECT_EQ(j.Take("\xf0\x9f"), "");
  EXPECT_EQ(j.Flush(), "\xf0\x9f");
}

TEST(AsciicastTest, WritesV2WithSplitCharactersJoinedAndInvalidBytesReplaced) {
  v1::RecordingEvent resize;
  resize.set_offset_ns(0);
  resize.mutable_resize()->set_cols(120);
  resize.mutable_resize()->set_rows(40);
  v1::RecordingEvent secret;
  secret.set_offset_ns(3'000'000'000);
  secret.set_input_redacted(8);
  auto chunks = Chunks({{resize, Out(1'500'000, "caf\xc3")}, {Out(2'000'000, "\xa9 \xff"), secret}});
  v1::SessionSummary s;
  s.set_session_id("s-1");
  s.mutable_session()->set_user("adm-alice");
  s.mutable_session()->set_started_unix_ns(1'800'000'000'000'000'000);
  const v1::Resize size = FirstSize(chunks);
  std::ostringstream out;
  auto w = AsciicastWriter(out, s, size.cols(), size.rows());
  ASSERT_TRUE(Replay(chunks, *w).ok());
  std::istringstream lines(out.str());
  std::string line;
  std::vector<nlohmann::json> j;
  while (std::getline(lines, line)) j.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(j.size(), 5u) << out.str();
  EXPECT_EQ(j[0]["version"], 2);
  EXPECT_EQ(j[0]["width"], 120);
  EXPECT_EQ(j[0]["height"], 40);
  EXPECT_EQ(j[0]["timestamp"], 1800000000);
  EXPECT_EQ(j[1], nlohmann::json::parse(R"([0.0, "r", "120x40"])"));
  EXPECT_EQ(j[2], nlohmann::json::parse(R"([0.0015, "o", "caf"])"));
  EXPECT_EQ(j[3], nlohmann::json::parse("[0.002, \"o\", \"\xc3\xa9 \xef\xbf\xbd\"]"));
  EXPECT_EQ(j[4], nlohmann::json::parse(R"j([3.0, "m", "input redacted (8 bytes)"])j"));
}

TEST(TextTest, ControlSequencesGoAndBackspacesApply) {
  v1::RecordingEvent gap;
  gap.set_gap(4096);
  auto chunks = Chunks({{Out(0, "\x1b[?2004h$ lss\b \b"), Out(1, " \x1b[1m-l\x1b[0m\r\n"),
                         Out(2, "\x1b]0;title\x07total 0\r\n"), gap, Out(3, "end\x1b(B")}});
  std::ostringstream out;
  auto w = TextWriter(out);
  ASSERT_TRUE(Replay(chunks, *w).ok());
  EXPECT_EQ(out.str(), "$ ls -l\ntotal 0\n[warden: 4096 bytes lost here]end\n");
}

TEST(ReplayTest, ATerminalIsReplayedAloneWithEverySessionMarkerNamed) {
  v1::RecordingEvent second = Out(2, "two\r\n");
  second.set_terminal(1);
  v1::RecordingEvent exec;
  exec.set_terminal(1);
  exec.mutable_exec()->add_argv("/bin/echo");
  exec.mutable_exec()->add_argv(std::string(10, 'x'));
  exec.mutable_exec()->set_argv_bytes(5000);
  exec.mutable_exec()->set_argv_truncated(true);
  exec.mutable_exec()->set_cwd("/");
  v1::RecordingEvent line;
  line.set_terminal(1);
  line.mutable_redacted_line()->set_number(1);
  line.mutable_redacted_line()->set_bytes(14);
  line.mutable_redacted_line()->set_pid(42);
  line.mutable_redacted_line()->set_comm("sh");
  line.mutable_redacted_line()->set_exe("/usr/bin/dash");
  v1::RecordingEvent lost;
  lost.set_lost_events(3);
  auto chunks = Chunks({{Out(0, "zero\r\n"), second, exec, line, lost}});
  EXPECT_EQ(TerminalCount(chunks), 2u);
  auto text = [&](uint32_t terminal) {
    std::ostringstream out;
    auto w = TextWriter(out);
    EXPECT_TRUE(Replay(chunks, *w, terminal).ok());
    return out.str();
  };
  const std::string markers =
      "[warden: terminal 1: redacted line 1 (14 bytes) read by sh (pid 42, /usr/bin/dash)]"
      "[warden: 3 events lost here (programs run, resizes or redaction markers: the kernel's ring "
      "buffer was full)]\n";
  EXPECT_EQ(text(0), "zero\n" + markers);
  EXPECT_EQ(text(1), "two\n" + markers);
  std::ostringstream commands;
  auto w = CommandsWriter(commands);
  ASSERT_TRUE(Replay(chunks, *w, 0).ok());
  EXPECT_NE(commands.str().find("terminal 1  /  /bin/echo xxxxxxxxxx [argv truncated: 21 of 5000 "
                                "bytes recorded]"),
            std::string::npos)
      << commands.str();
  EXPECT_NE(commands.str().find("[warden: 3 events lost here"), std::string::npos);
}

TEST(PlayerTest, KeepsThePaceScaledCappedAndJumps) {
  auto chunks = Chunks({{Out(0, "a"), Out(2'000'000'000, "b"), Out(62'000'000'000, "c"),
                         Out(63'000'000'000, "d")}});
  auto play = [&](PlayOptions o) {
    std::ostringstream out;
    std::vector<double> waits;
    auto w = Player(out, o, [&](double s) { waits.push_back(s); });
    EXPECT_TRUE(Replay(chunks, *w).ok());
    EXPECT_EQ(out.str(), "abcd");
    return waits;
  };
  EXPECT_EQ(play({}), (std::vector<double>{2, 60, 1}));
  EXPECT_EQ(play({.speed = 2}), (std::vector<double>{1, 30, 0.5}));
  EXPECT_EQ(play({.max_idle_s = 1.5}), (std::vector<double>{1.5, 1.5, 1}));
  EXPECT_EQ(play({.from_s = 62}), (std::vector<double>{1}));
}

TEST(ReplayTest, AnUnreadableChunkIsReportedByNumber) {
  auto chunks = Chunks({{Out(0, "a")}, {Out(1, "b")}});
  chunks[1].set_session_id("s-1");
  chunks[1].set_events_zstd("garbage");
  std::ostringstream out;
  auto w = TextWriter(out);
  absl::Status st = Replay(chunks, *w);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("chunk 2 of s-1 cannot be read"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace warden::cli
