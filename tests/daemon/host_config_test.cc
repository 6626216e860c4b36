#include <gtest/gtest.h>

#include "daemon/config.h"
#include "tests/test_util.h"

namespace warden {
namespace {

absl::StatusOr<HostConfig> Load(const std::string& yaml) {
  testing::TempDir dir;
  const std::string path = dir / "host.yaml";
  testing::WriteAll(path, yaml);
  return LoadHostConfig(path);
}

TEST(HostConfigFile, MissingKeysAreDefaultsAndBadValuesAreRefusedByName) {
  auto c = Load("break_glass: [root, rescue]\nmax_sessions_per_account: 8\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->max_sessions_per_account, 8);
  EXPECT_EQ(c->break_glass, (std::vector<std::string>{"root", "rescue"}));
  EXPECT_EQ(c->agent_socket, "/run/warden/agent.sock");
  EXPECT_TRUE(c->recording_compress) << "chunks are compressed unless the host says otherwise";
  EXPECT_TRUE(c->rotate_accounts.empty()) << "no local password is Warden's unless the host says so";
  EXPECT_EQ(c->password_check_service, "warden-verify");
  auto stored = Load("recording_compression: none\n");
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_FALSE(stored->recording_compress);
  for (const auto& [yaml, message] : std::vector<std::pair<std::string, std::string>>{
           {"max_sessions_per_account: 0\n", "max_sessions_per_account must be between 1 and 1024"},
           {"max_sessions_per_account: 5000\n", "max_sessions_per_account must be between 1 and 1024"},
           {"max_session_per_account: 8\n", "unknown key \"max_session_per_account\""},
           {"home_root: /\n", "home_root must be an absolute directory"},
           {"recording_compression: zstd\n", "recording_compression must be lz4 or none, not \"zstd\""},
           {"rotate_accounts: [\"root:x\"]\n", "rotate_accounts: \"root:x\" is not an account name"}}) {
    auto bad = Load(yaml);
    ASSERT_FALSE(bad.ok()) << yaml;
    EXPECT_NE(bad.status().message().find(message), std::string::npos) << bad.status().message();
  }
}

}  // namespace
}  // namespace warden
