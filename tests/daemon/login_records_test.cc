// The host's login records as glibc writes them (updwtmp): logins found, the cursor kept across
// restarts and log rotation, a record cut in half read once it is whole.
#include "daemon/login_records.h"

#include <sys/stat.h>
#include <unistd.h>
#include <utmp.h>

#include <cstring>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace warden::testing {
namespace {

// Appends a record as login programs do (updwtmp writes only to a file that exists).
void Write(const std::string& file, short type, const std::string& user, const std::string& line,
           int64_t sec, int pid = 100) {
  std::ofstream(file, std::ios::app).close();
  struct utmp u;
  std::memset(&u, 0, sizeof u);
  u.ut_type = type;
  u.ut_pid = pid;
  std::strncpy(u.ut_line, line.c_str(), sizeof u.ut_line);
  std::strncpy(u.ut_user, user.c_str(), sizeof u.ut_user);
  std::strncpy(u.ut_host, "10.0.0.9", sizeof u.ut_host);
  u.ut_tv.tv_sec = static_cast<int32_t>(sec);
  updwtmp(file.c_str(), &u);
}

std::vector<std::string> Users(const std::vector<LoginRecord>& records) {
  std::vector<std::string> out;
  for (const LoginRecord& r : records) out.push_back(r.user);
  return out;
}

using Strings = std::vector<std::string>;

TEST(LoginRecordsTest, LoginsSinceTheLastCommitAndNotBefore) {
  TempDir dir;
  const std::string wtmp = dir.path() + "/wtmp", cursor = dir.path() + "/cursor";
  Write(wtmp, USER_PROCESS, "old", "pts/0", 1000);  // before wardend: the past
  {
    LoginRecordReader reader(wtmp, cursor);
    ASSERT_TRUE(reader.ReadNew(10).ok());
    EXPECT_TRUE(reader.ReadNew(10)->empty());
    Write(wtmp, USER_PROCESS, "root", "pts/1", 2000, 77);
    Write(wtmp, DEAD_PROCESS, "", "pts/1", 2001);  // a logout: not a login
    Write(wtmp, BOOT_TIME, "reboot", "~", 2002);
    absl::StatusOr<std::vector<LoginRecord>> got = reader.ReadNew(10);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(Users(*got), Strings{"root"});
    EXPECT_EQ((*got)[0].line, "pts/1");
    EXPECT_EQ((*got)[0].from, "10.0.0.9");
    EXPECT_EQ((*got)[0].pid, 77);
    EXPECT_EQ((*got)[0].at_us, 2000000000);
    // Not committed (the report failed): read again, also after a restart.
    EXPECT_EQ(Users(*reader.ReadNew(10)), Strings{"root"});
  }
  LoginRecordReader restarted(wtmp, cursor);
  EXPECT_EQ(Users(*restarted.ReadNew(10)), Strings{"root"});
  ASSERT_TRUE(restarted.Commit().ok());
  EXPECT_TRUE(restarted.ReadNew(10)->empty());
  LoginRecordReader again(wtmp, cursor);
  EXPECT_TRUE(again.ReadNew(10)->empty());
}

TEST(LoginRecordsTest, ABatchStopsAtItsLimitAndTheRestComesNext) {
  TempDir dir;
  const std::string wtmp = dir.path() + "/wtmp", cursor = dir.path() + "/cursor";
  LoginRecordReader reader(wtmp, cursor);
  EXPECT_TRUE(reader.ReadNew(2)->empty());  // no file yet: nothing, and the file's start is the place
  for (const char* u : {"a", "b", "c", "d", "e"}) Write(wtmp, USER_PROCESS, u, "pts/2", 3000);
  EXPECT_EQ(Users(*reader.ReadNew(2)), (Strings{"a", "b"}));
  ASSERT_TRUE(reader.Commit().ok());
  EXPECT_EQ(Users(*reader.ReadNew(2)), (Strings{"c", "d"}));
  ASSERT_TRUE(reader.Commit().ok());
  EXPECT_EQ(Users(*reader.ReadNew(2)), (Strings{"e"}));
}

TEST(LoginRecordsTest, ARotatedLogIsReadFromItsStartAndAHalfRecordWaits) {
  TempDir dir;
  const std::string wtmp = dir.path() + "/wtmp", cursor = dir.path() + "/cursor";
  Write(wtmp, USER_PROCESS, "before", "pts/0", 1000);
  LoginRecordReader reader(wtmp, cursor);
  ASSERT_TRUE(reader.ReadNew(10)->empty());
  ASSERT_EQ(rename(wtmp.c_str(), (wtmp + ".1").c_str()), 0);  // logrotate
  Write(wtmp, USER_PROCESS, "after", "pts/1", 4000);
  EXPECT_EQ(Users(*reader.ReadNew(10)), Strings{"after"});
  ASSERT_TRUE(reader.Commit().ok());
  // Half a record (a writer in the middle of its write): nothing yet; whole: read.
  Write(dir.path() + "/one", USER_PROCESS, "late", "pts/3", 5000);
  std::ifstream in(dir.path() + "/one", std::ios::binary);
  std::string rec((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(wtmp, std::ios::app | std::ios::binary) << rec.substr(0, 100);
  EXPECT_TRUE(reader.ReadNew(10)->empty());
  std::ofstream(wtmp, std::ios::app | std::ios::binary) << rec.substr(100);
  EXPECT_EQ(Users(*reader.ReadNew(10)), Strings{"late"});
}

TEST(LoginRecordsTest, OnlyBreakGlassAndPrivilegedLoginsAreReported) {
  Inventory inv;
  inv.break_glass = {"root"};
  inv.privileged.push_back({"ops", 1000, {"group sudo"}, false, {}});
  std::vector<LoginRecord> records = {{"root", "pts/0", "a", 1, 10},
                                      {"ops", "pts/1", "b", 2, 11},
                                      {"carol", "pts/2", "c", 3, 12}};
  std::vector<HostLogin> got = ClassifyLogins(records, inv);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].kind, "break_glass");
  EXPECT_EQ(got[1].kind, "bypass");
  EXPECT_EQ(got[1].key, "2:11:pts/1");
  EXPECT_TRUE(CheckLogin(got[0]).ok());
}

TEST(LoginRecordsTest, ACorruptCursorIsNamed) {
  TempDir dir;
  std::ofstream(dir.path() + "/cursor") << "{not json";
  LoginRecordReader reader(dir.path() + "/wtmp", dir.path() + "/cursor");
  absl::StatusOr<std::vector<LoginRecord>> got = reader.ReadNew(1);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(got.status().message().find("remove it to start again"), std::string::npos);
}

}  // namespace
}  // namespace warden::testing
