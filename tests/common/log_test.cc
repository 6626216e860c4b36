#include "common/log.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/strings.h"
#include "tests/test_util.h"

namespace warden {
namespace {

std::vector<std::string_view> Lines(std::string_view text) {
  return StrSplit(text, '\n', /*skip_empty=*/true);
}

TEST(EscapeForLog, KeepsPrintableAsciiAndEscapesTheRest) {
  EXPECT_EQ(EscapeForLog("alice from 10.0.0.1:22"), "alice from 10.0.0.1:22");
  EXPECT_EQ(EscapeForLog("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(EscapeForLog(std::string("\x1b[2J\0\x7f\xc3\xa9", 8)), "\\x1b[2J\\x00\\x7f\\xc3\\xa9");
  // The backslash is escaped too, so an escaped newline and a literal "\n" stay apart.
  EXPECT_EQ(EscapeForLog("a\\nb"), "a\\\\nb");
}

TEST(LogLine, AUserNameCannotForgeAJournalLine) {
  setenv("JOURNAL_STREAM", "8:1234", 1);
  testing::StderrCapture capture;
  WriteLogLine("warden-controller", LOG_NOTICE, "login refused for user \"x\n<1>fake alert\"");
  const std::string out = capture.Finish();
  unsetenv("JOURNAL_STREAM");
  const auto lines = Lines(out);
  ASSERT_EQ(lines.size(), 1u) << out;
  EXPECT_EQ(lines[0], "<5>login refused for user \"x\\n<1>fake alert\"");
}

TEST(LogLine, AUserNameCannotForgeATimestampedLine) {
  unsetenv("JOURNAL_STREAM");
  testing::StderrCapture capture;
  WriteLogLine("wardend", LOG_INFO, "session for x\r\n2026-01-01T00:00:00Z wardend: forged");
  const std::string out = capture.Finish();
  const auto lines = Lines(out);
  ASSERT_EQ(lines.size(), 1u) << out;
  EXPECT_NE(lines[0].find(" wardend: session for x\\r\\n2026-01-01T00:00:00Z wardend: forged"),
            std::string_view::npos)
      << out;
}

}  // namespace
}  // namespace warden
