#include "controller/core/audit_log.h"

#include <gtest/gtest.h>

#include "controller/keys/software_keystore.h"
#include "tests/test_util.h"

namespace warden {
namespace {

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(keys_.Generate("audit", KeyAlgorithm::kEd25519).ok()); }
  std::unique_ptr<AuditLog> Make(const std::string& path, int every = 3) {
    AuditLog::Options o;
    o.path = path;
    o.key_label = "audit";
    o.hmac_key = SecretBytes(AsBytes("k"));
    o.checkpoint_every = every;
    return std::make_unique<AuditLog>(std::move(o), keys_, clock_);
  }
  testing::TempDir dir_;
  SoftwareKeyStore keys_;
  FakeClock clock_{1800000000};
};

TEST_F(AuditLogTest, WrittenLogVerifiesAndSurvivesRestart) {
  const std::string path = dir_ / "audit.log";
  {
    auto log = Make(path);
    ASSERT_TRUE(log->Open().ok());
    for (int i = 0; i < 7; i++) ASSERT_TRUE(log->Append({{"type", "intent"}, {"i", i}}).ok());
    ASSERT_TRUE(log->Close().ok());
  }
  {
    auto log = Make(path);
    ASSERT_TRUE(log->Open().ok());
    auto seq = log->Append({{"type", "intent"}, {"after", "restart"}});
    ASSERT_TRUE(seq.ok());
    auto exported = log->Export();
    ASSERT_TRUE(exported.ok());
    auto r = VerifyAuditLog(exported->first, *keys_.GetPublicKey("audit"), exported->second);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->lines, *seq);
    EXPECT_GE(r->checkpoints, 3u);
  }
}

TEST_F(AuditLogTest, SecretsAreReplacedByHmacs) {
  auto log = Make(dir_ / "audit.log");
  const std::string r = log->Redact("hunter2");
  EXPECT_EQ(r.rfind("hmac-sha256:", 0), 0u);
  EXPECT_EQ(r.find("hunter2"), std::string::npos);
  EXPECT_EQ(r, log->Redact("hunter2"));
}

TEST_F(AuditLogTest, TornTailFromACrashIsCutOff) {
  const std::string path = dir_ / "audit.log";
  {
    auto log = Make(path, 100);
    ASSERT_TRUE(log->Open().ok());
    ASSERT_TRUE(log->Append({{"type", "intent"}}).ok());
  }
  testing::WriteAll(path, testing::ReadAll(path) + "{\"seq\":2,\"prev\":\"ab");
  auto log = Make(path, 100);
  ASSERT_TRUE(log->Open().ok());
  EXPECT_EQ(*log->Append({{"type", "intent"}}), 2u);
  auto exported = log->Export();
  EXPECT_TRUE(VerifyAuditLog(exported->first, *keys_.GetPublicKey("audit"), exported->second).ok());
}

TEST_F(AuditLogTest, UnwritableLogRefusesAndSaysWhy) {
  auto log = Make(dir_ / "missing-dir/audit.log");
  EXPECT_FALSE(log->Open().ok());
  auto st = log->Append({{"type", "intent"}});
  ASSERT_EQ(st.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(st.status().message()).find("requests are refused"), std::string::npos);
  // Once the directory exists the log heals on the next append.
  std::filesystem::create_directory(dir_ / "missing-dir");
  EXPECT_EQ(*log->Append({{"type", "intent"}}), 1u);
}

}  // namespace
}  // namespace warden
