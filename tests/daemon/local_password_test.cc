// Local passwords set and proven for the controller's rotation: the shadow file's one line
// changes, and nothing else does; a password that is not the account's is refused before PAM is
// asked. (PAM's part runs against a real /etc: e2e.rotation_linux.)
#include "daemon/local_password.h"

#include <crypt.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/test_util.h"

namespace warden {
namespace {

constexpr char kShadow[] =
    "root:$y$j9T$abc$def:19000:0:99999:7:::\n"
    "svc:!:19000:0:99999:7:::\n"
    "svc2:*:19001:0:99999:7:::\n"
    "ops:!$y$j9T$abc$def:19000:0:99999:7:::\n";

SecretBytes Pw(std::string_view s) { return SecretBytes(AsBytes(s)); }

class ShadowFile : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteAll(path_, kShadow);
    ASSERT_EQ(chmod(path_.c_str(), 0640), 0);
    ASSERT_EQ(chown(path_.c_str(), 0, 42), 0);  // root:shadow
  }
  testing::TempDir dir_;
  const std::string path_ = dir_ / "shadow";
};

TEST_F(ShadowFile, SettingAPasswordChangesOnlyThatAccountsHashAndDay) {
  ASSERT_TRUE(SetShadowPassword(path_, "svc", Pw("n3w-Pa55word!"), 20000).ok());
  const std::string text = testing::ReadAll(path_);
  EXPECT_EQ(text.substr(0, text.find('\n') + 1), "root:$y$j9T$abc$def:19000:0:99999:7:::\n");
  EXPECT_NE(text.find("\nsvc2:*:19001:0:99999:7:::\n"), std::string::npos) << text;
  const size_t at = text.find("\nsvc:") + 5;
  const std::string line = text.substr(at, text.find('\n', at) - at);
  const std::string hash = line.substr(0, line.find(':'));
  EXPECT_EQ(line.substr(hash.size()), ":20000:0:99999:7:::");
  ASSERT_EQ(hash.rfind("$y$", 0), 0u) << "Debian's preferred method is yescrypt: " << hash;
  crypt_data data{};
  EXPECT_EQ(std::string(crypt_r("n3w-Pa55word!", hash.c_str(), &data)), hash);
  EXPECT_NE(std::string(crypt_r("old", hash.c_str(), &data)), hash);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_gid, 42u) << "the file keeps its group (shadow), so unix_chkpwd still reads it";
  EXPECT_FALSE(std::filesystem::exists(path_ + ".warden-new"));
}

TEST_F(ShadowFile, AnAccountWithoutALineOrAMalformedLineLeavesTheFileAsItIs) {
  absl::Status st = SetShadowPassword(path_, "sv", Pw("whatever-pass"), 20000);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st.message();
  EXPECT_EQ(st.message(), "sv has no line in " + path_);
  testing::WriteAll(path_, "svc:!:19000:0\n");
  st = SetShadowPassword(path_, "svc", Pw("whatever-pass"), 20000);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st.message();
  EXPECT_NE(st.message().find("has 4 fields, not 9; left as it is"), std::string::npos);
  EXPECT_EQ(testing::ReadAll(path_), "svc:!:19000:0\n");
}

TEST_F(ShadowFile, OnlyAccountsTheHostListsAreTouched) {
  LocalPasswords passwords({"svc"}, "warden-verify", path_);
  LocalPasswordTask task{LocalPasswordTask::Kind::kSet, "root", Pw("controller-chose-this")};
  absl::Status st = passwords.Run(task, 20000 * 86400);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("rotate_accounts"), std::string::npos) << st.message();
  task.kind = LocalPasswordTask::Kind::kCheck;
  EXPECT_EQ(passwords.Run(task, 0).code(), absl::StatusCode::kFailedPrecondition)
      << "nor is a password of an unlisted account tried (a guessing oracle)";
  EXPECT_EQ(testing::ReadAll(path_), kShadow);
  task = {LocalPasswordTask::Kind::kSet, "svc", Pw("controller-chose-this")};
  EXPECT_TRUE(passwords.Run(task, 20000 * 86400).ok());
  EXPECT_NE(testing::ReadAll(path_).find(":20000:0:99999:7:::\nsvc2:"), std::string::npos);
}

TEST_F(ShadowFile, ALockedAccountIsNotUnlockedByANewPassword) {
  absl::Status st = SetShadowPassword(path_, "ops", Pw("whatever-pass"), 20000);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st.message();
  EXPECT_NE(st.message().find("ops is locked (passwd -l or usermod -L)"), std::string::npos);
  EXPECT_EQ(testing::ReadAll(path_), kShadow);
  // "!" alone is an account that never had a password: Warden may give it its first.
  EXPECT_TRUE(SetShadowPassword(path_, "svc", Pw("whatever-pass"), 20000).ok());
}

TEST_F(ShadowFile, OtherLinesKeepTheirBytesWhateverTheirEndings) {
  testing::WriteAll(path_, "svc2:*:1:0:99999:7:::\r\nsvc:!:1:0:99999:7:::\nsvcx:*:1:0:99999:7:::");
  ASSERT_TRUE(SetShadowPassword(path_, "svc", Pw("whatever-pass"), 20000).ok());
  const std::string text = testing::ReadAll(path_);
  EXPECT_EQ(text.rfind("svc2:*:1:0:99999:7:::\r\nsvc:$y$", 0), 0u) << text;
  EXPECT_NE(text.find(":20000:0:99999:7:::\nsvcx:*:1:0:99999:7:::"), std::string::npos) << text;
  EXPECT_EQ(text.back(), ':') << "no newline is added at the end";
}

TEST_F(ShadowFile, APasswordIsRefusedByItsHashBeforePamIsAsked) {
  ASSERT_TRUE(SetShadowPassword(path_, "svc", Pw("right-password"), 20000).ok());
  // A service that would let anyone in: the hash decides refusals, never the stack.
  absl::Status st = CheckLocalPassword(path_, "warden-test-nonexistent", "svc", Pw("wrong-password"));
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << st.message();
  EXPECT_NE(st.message().find("is not the one of svc"), std::string::npos) << st.message();
  st = CheckLocalPassword(path_, "warden-test-nonexistent", "ops", Pw("anything-at-all"));
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("ops is locked"), std::string::npos) << st.message();
  st = CheckLocalPassword(path_, "warden-test-nonexistent", "svc2", Pw("anything-at-all"));
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << "an account without a password";
  // No such account: not "nothing vaulted" (NOT_FOUND means that to rotation), a failure.
  st = CheckLocalPassword(path_, "warden-test-nonexistent", "nobody-here", Pw("anything-at-all"));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st.message();
}

TEST_F(ShadowFile, APasswordWithANulByteIsRefused) {
  const std::string pw("abc\0def", 7);
  EXPECT_EQ(SetShadowPassword(path_, "svc", Pw(pw), 20000).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(testing::ReadAll(path_), kShadow);
  EXPECT_EQ(CheckLocalPassword(path_, "warden-verify", "root", Pw(pw)).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace warden
