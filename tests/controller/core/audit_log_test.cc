#include "controller/core/audit_log.h"

#include <gtest/gtest.h>

#include "controller/keys/software_keystore.h"
#include "controller/store/sqlite/sqlite_store.h"
#include "tests/test_util.h"

namespace warden {
namespace {

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(keys_.Generate("audit", KeyAlgorithm::kEd25519).ok());
    ASSERT_TRUE(keys_.GenerateMacKey("hmac").ok());
    auto store = SqliteStore::Open(dir_ / "warden.db");
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
  }
  std::unique_ptr<AuditLog> Make(const std::string& path, int every = 3) {
    AuditLog::Options o;
    o.path = path;
    o.key_label = "audit";
    o.hmac_key_label = "hmac";
    o.checkpoint_every = every;
    return std::make_unique<AuditLog>(std::move(o), keys_, *store_, clock_);
  }
  // A log of `events` events closed cleanly (so sealed by a checkpoint at its end).
  void WriteClosedLog(const std::string& path, int events) {
    auto log = Make(path, 100);
    ASSERT_TRUE(log->Open().ok());
    for (int i = 0; i < events; i++) ASSERT_TRUE(log->Append({{"type", "intent"}, {"i", i}}).ok());
    ASSERT_TRUE(log->Close().ok());
  }
  testing::TempDir dir_;
  SoftwareKeyStore keys_;
  std::unique_ptr<SqliteStore> store_;
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

TEST_F(AuditLogTest, OnlyAdminsExportTheLogWithTheKeyThatVerifiesIt) {
  auto policy = ParsePolicy("groups:\n  admins: [root]\n  operators: [alice]\nroles: {}\n");
  ASSERT_TRUE(policy.ok()) << policy.status().message();
  auto log = Make(dir_ / "audit.log");
  ASSERT_TRUE(log->Open().ok());
  ASSERT_TRUE(log->Append({{"type", "intent"}}).ok());
  auto denied = log->ExportFor(Identity{"alice", {"operators"}, "", 0, "", 0}, *policy);
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.status().message(), "exporting the audit log is for admins");
  auto exported = log->ExportFor(Identity{"root", {"admins"}, "", 0, "", 0}, *policy);
  ASSERT_TRUE(exported.ok()) << exported.status().message();
  std::string comment;
  auto pub = ParseAuthorizedKey(exported->public_key, &comment);
  ASSERT_TRUE(pub.ok()) << pub.status().message();
  EXPECT_EQ(comment, "warden-audit");
  EXPECT_TRUE(VerifyAuditLog(exported->text, *pub, exported->head).ok());
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

// Someone with write access to the log's directory cuts its last lines off while the controller
// is stopped: the anchor in the database names the line that is missing, and the log is refused.
TEST_F(AuditLogTest, ALogCutAtItsEndIsRefusedOnOpen) {
  const std::string path = dir_ / "audit.log";
  WriteClosedLog(path, 6);  // 6 events and the closing checkpoint: 7 lines
  const std::string text = testing::ReadAll(path);
  size_t cut = text.size() - 1;
  for (int i = 0; i < 2; i++) cut = text.rfind('\n', cut - 1);
  testing::WriteAll(path, text.substr(0, cut + 1));  // lines 1-5 remain, as complete lines

  auto log = Make(path);
  absl::Status st = log->Open();
  ASSERT_EQ(st.code(), absl::StatusCode::kDataLoss) << st.message();
  EXPECT_NE(st.message().find("ends at line 5, but the controller sealed line 7"),
            std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("Restore the log from a backup"), std::string::npos);
  EXPECT_EQ(log->Append({{"type", "intent"}}).status().code(), absl::StatusCode::kDataLoss)
      << "nothing is appended to a cut log";
  EXPECT_EQ(testing::ReadAll(path), text.substr(0, cut + 1)) << "the evidence is left as found";

  // Removing the whole file is the same cut.
  std::filesystem::remove(path);
  EXPECT_EQ(Make(path)->Open().code(), absl::StatusCode::kDataLoss);
}

TEST_F(AuditLogTest, ALogWhoseAnchoredLineWasRewrittenIsRefused) {
  const std::string path = dir_ / "audit.log";
  WriteClosedLog(path, 3);
  std::string text = testing::ReadAll(path);
  // The closing checkpoint line (line 4) gets another (forged) signature.
  const size_t sig = text.rfind("\"sig\":\"") + 7;
  text[sig] = text[sig] == 'A' ? 'B' : 'A';
  testing::WriteAll(path, text);
  absl::Status st = Make(path)->Open();
  ASSERT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("line 4 is not the checkpoint the controller sealed"),
            std::string::npos)
      << st.message();
}

TEST_F(AuditLogTest, OfflineVerifyRefusesAnUnsealedTailUnlessAllowed) {
  const std::string path = dir_ / "audit.log";
  WriteClosedLog(path, 4);
  const PublicKey key = *keys_.GetPublicKey("audit");
  auto sealed = VerifyAuditLog(testing::ReadAll(path), key, std::nullopt);
  ASSERT_TRUE(sealed.ok()) << sealed.status().message();
  EXPECT_EQ(sealed->unsealed, 0u);
  {
    // Two more events, then a crash: no checkpoint after them.
    auto log = Make(path, 100);
    ASSERT_TRUE(log->Open().ok());
    ASSERT_TRUE(log->Append({{"type", "intent"}}).ok());
    ASSERT_TRUE(log->Append({{"type", "outcome"}}).ok());
  }
  const std::string text = testing::ReadAll(path);
  auto refused = VerifyAuditLog(text, key, std::nullopt);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find(
                "ends in 2 line(s) after its last signed checkpoint (line 5)"),
            std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("--allow-unsealed-tail"), std::string::npos);
  auto allowed = VerifyAuditLog(text, key, std::nullopt, /*allow_unsealed_tail=*/true);
  ASSERT_TRUE(allowed.ok()) << allowed.status().message();
  EXPECT_EQ(allowed->lines, 7u);
  EXPECT_EQ(allowed->unsealed, 2u);
}

}  // namespace
}  // namespace warden
