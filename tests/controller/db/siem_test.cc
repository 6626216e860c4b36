// Following the audit log (AuditTail, cursors) and the syslog form of events.
#include <fcntl.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "controller/alerts/audit_tail.h"
#include "controller/alerts/siem_forwarder.h"
#include "tests/test_util.h"

namespace warden::testing {
namespace {

void Append(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::app) << text;
}

std::vector<uint64_t> Seqs(const std::vector<AuditLine>& lines) {
  std::vector<uint64_t> out;
  for (const AuditLine& l : lines) out.push_back(l.seq);
  return out;
}

TEST(AuditTailTest, FollowsTheLogLineByLineAndWaitsForAPartialOne) {
  TempDir dir;
  const std::string log = dir / "audit.log";
  Append(log, "{\"event\":\"a\",\"seq\":1}\n{\"event\":\"b\",\"seq\":2}\n{\"event\":\"c\",\"seq\":3}\n");
  AuditTail tail(log);
  auto first = tail.Read({}, 2);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(Seqs(*first), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(first->back().text, "{\"event\":\"b\",\"seq\":2}");
  auto rest = tail.Read(first->back().end, 100);
  EXPECT_EQ(Seqs(*rest), (std::vector<uint64_t>{3}));
  // A line still being written is not read until its newline is there.
  Append(log, "{\"event\":\"d\",\"se");
  AuditCursor at = rest->back().end;
  EXPECT_TRUE(tail.Read(at, 100)->empty());
  Append(log, "q\":4}\n");
  EXPECT_EQ(Seqs(*tail.Read(at, 100)), (std::vector<uint64_t>{4}));
}

TEST(AuditTailTest, ASeqInACallersArgumentsIsNotTheLines) {
  TempDir dir;
  const std::string log = dir / "audit.log";
  // Keys are sorted: a caller's "args" come before the line's own seq, and may hold a "seq".
  Append(log, "{\"seq\":1}\n{\"args\":{\"labels\":{\"seq\":\"7\",\"x\":[{\"seq\":9}]},"
              "\"n\":\"\\\"seq\\\":5\"},\"call\":\"c\",\"seq\":2}\n{\"seq\":3}\n");
  AuditTail tail(log);
  auto lines = tail.Read({}, 100);
  ASSERT_TRUE(lines.ok());
  EXPECT_EQ(Seqs(*lines), (std::vector<uint64_t>{1, 2, 3}));
  // And read on from the middle, the cursor's line is found where it was.
  EXPECT_EQ(Seqs(*tail.Read((*lines)[0].end, 100)), (std::vector<uint64_t>{2, 3}));
}

TEST(AuditTailTest, ALogReplacedUnderTheCursorIsReadAgainFromItsStartPastTheCursor) {
  TempDir dir;
  const std::string log = dir / "audit.log";
  Append(log, "{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n");
  AuditTail tail(log);
  const AuditCursor at = tail.Read({}, 2)->back().end;  // after seq 2
  // Restored from a copy with longer lines: the cursor's offset lands elsewhere.
  std::ofstream(log, std::ios::trunc) << "{\"padding\":\"xxxxxxxx\",\"seq\":1}\n"
                                         "{\"padding\":\"xxxxxxxx\",\"seq\":2}\n"
                                         "{\"padding\":\"xxxxxxxx\",\"seq\":3}\n";
  EXPECT_EQ(Seqs(*tail.Read(at, 100)), (std::vector<uint64_t>{3}));
  // Cut shorter than the cursor: the same.
  std::ofstream(log, std::ios::trunc) << "{\"seq\":1}\n";
  Append(log, "{\"seq\":2}\n{\"seq\":3}\n{\"seq\":4}\n");
  EXPECT_EQ(Seqs(*tail.Read({3, 1000}, 100)), (std::vector<uint64_t>{4}));
  EXPECT_FALSE(AuditTail(dir / "missing.log").Read({}, 1).ok());
}

TEST(AuditTailTest, CursorsSurviveAndABadOneIsNamed) {
  TempDir dir;
  const std::string path = dir / "soc.cursor";
  EXPECT_EQ(LoadCursor(path)->seq, 0u);  // none yet: the log's start
  ASSERT_TRUE(SaveCursor(path, {42, 4096}).ok());
  auto c = LoadCursor(path);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->seq, 42u);
  EXPECT_EQ(c->offset, 4096u);
  std::ofstream(path, std::ios::trunc) << "garbage";
  EXPECT_EQ(LoadCursor(path).status().message(),
            path + " is not a cursor (\"SEQ OFFSET\"); remove it to send the whole audit log again");
}

TEST(SiemSyslogTest, EventsAreRfc5424WithTheirSeverityAndNameAndTheJsonAsMessage) {
  const std::string alert =
      R"({"alert":true,"event":"alert","rule":"w","seq":9,"severity":"critical","ts":"2026-12-01T10:00:00Z"})";
  const std::string m = SiemSyslogMessage(alert);
  EXPECT_EQ(m.rfind("<82>1 2026-12-01T10:00:00Z ", 0), 0u) << m;  // authpriv.crit
  EXPECT_NE(m.find(" warden-controller "), std::string::npos);
  EXPECT_NE(m.find(" alert - " + alert), std::string::npos) << m;
  const std::string call = R"({"call":"AccessService.ApproveRequest","seq":3,"ts":"2026-12-01T10:00:01Z","type":"intent"})";
  EXPECT_EQ(SiemSyslogMessage(call).rfind("<86>1 ", 0), 0u);  // authpriv.info
  EXPECT_NE(SiemSyslogMessage(call).find(" AccessService.ApproveRequest - "), std::string::npos);
  const std::string warning = R"({"alert":true,"event":"siem.lag","seq":4,"ts":"x y"})";
  EXPECT_EQ(SiemSyslogMessage(warning).rfind("<84>1 x_y ", 0), 0u);  // no space in a header field
  EXPECT_EQ(SiemSyslogMessage("not json").rfind("<86>1 ", 0), 0u);
}

}  // namespace
}  // namespace warden::testing
