#include "common/audit_chain.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "controller/keys/software_keystore.h"

namespace warden {
namespace {

// Builds a log of `n` events with a checkpoint after every `every` events.
struct LogBuilder {
  SoftwareKeyStore keys;
  std::string text;
  std::string last = std::string(kGenesisHash);
  uint64_t seq = 0;
  LogBuilder() { (void)keys.Generate("audit", KeyAlgorithm::kEd25519); }
  void Add(nlohmann::json j) {
    j["seq"] = ++seq;
    j["prev"] = last;
    const std::string line = j.dump();
    text += line + "\n";
    last = AuditLineHash(line);
  }
  void Checkpoint() {
    Add({{"type", "checkpoint"},
         {"sig", Base64Encode(*SignSsh(keys, "audit", AsBytes(CheckpointMessage(seq + 1, last))))}});
  }
  AuditHead Head() {
    return {seq, last, *SignSsh(keys, "audit", AsBytes(HeadMessage(seq, last)))};
  }
  PublicKey Key() { return *keys.GetPublicKey("audit"); }
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) {
    out.push_back(text.substr(pos, nl - pos));
  }
  return out;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

void Fill(LogBuilder& b) {
  for (int i = 0; i < 10; i++) {
    b.Add({{"type", "intent"}, {"call", "x"}, {"actor", "alice"}, {"i", i}});
    if (i % 4 == 3) b.Checkpoint();
  }
}

TEST(AuditChain, IntactLogVerifies) {
  LogBuilder b;
  Fill(b);
  auto r = VerifyAuditLog(b.text, b.Key(), b.Head());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->lines, 12u);
  EXPECT_EQ(r->checkpoints, 2u);
}

TEST(AuditChain, EditedLineIsDetected) {
  LogBuilder b;
  Fill(b);
  auto lines = Lines(b.text);
  lines[5].replace(lines[5].find("alice"), 5, "mallo");
  auto r = VerifyAuditLog(Join(lines), b.Key(), b.Head());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("line 7"), std::string::npos)
      << r.status().message();
}

TEST(AuditChain, RemovedLineIsDetected) {
  LogBuilder b;
  Fill(b);
  auto lines = Lines(b.text);
  lines.erase(lines.begin() + 2);
  EXPECT_FALSE(VerifyAuditLog(Join(lines), b.Key(), b.Head()).ok());
}

TEST(AuditChain, ReorderedLinesAreDetected) {
  LogBuilder b;
  Fill(b);
  auto lines = Lines(b.text);
  std::swap(lines[1], lines[2]);
  EXPECT_FALSE(VerifyAuditLog(Join(lines), b.Key(), b.Head()).ok());
}

TEST(AuditChain, TruncatedTailIsDetectedByTheSignedHead) {
  LogBuilder b;
  Fill(b);
  auto lines = Lines(b.text);
  lines.pop_back();
  EXPECT_TRUE(VerifyAuditLog(Join(lines), b.Key(), std::nullopt, /*allow_unsealed_tail=*/true).ok());
  auto r = VerifyAuditLog(Join(lines), b.Key(), b.Head());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("removed or edited at the end"),
            std::string::npos);
}

TEST(AuditChain, WithoutAHeadTheLogMustEndInACheckpoint) {
  LogBuilder b;
  Fill(b);  // lines 11 and 12 follow the last checkpoint (line 10)
  auto unsealed = VerifyAuditLog(b.text, b.Key(), std::nullopt);
  ASSERT_FALSE(unsealed.ok());
  EXPECT_NE(std::string(unsealed.status().message()).find("ends in 2 line(s) after"),
            std::string::npos)
      << unsealed.status().message();
  b.Checkpoint();
  auto sealed = VerifyAuditLog(b.text, b.Key(), std::nullopt);
  ASSERT_TRUE(sealed.ok()) << sealed.status().message();
  EXPECT_EQ(sealed->unsealed, 0u);
  EXPECT_FALSE(VerifyAuditLog("", b.Key(), std::nullopt).ok()) << "an empty log proves nothing";
}

TEST(AuditChain, RewrittenChainFailsTheCheckpointSignature) {
  // An attacker who edits a line and recomputes every later hash still cannot forge checkpoints.
  LogBuilder b;
  Fill(b);
  auto lines = Lines(b.text);
  LogBuilder forged;
  for (size_t i = 0; i < lines.size(); i++) {
    auto j = nlohmann::json::parse(lines[i]);
    j.erase("seq");
    j.erase("prev");
    if (i == 0) j["actor"] = "mallory";
    forged.Add(j);
  }
  auto r = VerifyAuditLog(forged.text, b.Key(), std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("checkpoint signature"), std::string::npos);
}

}  // namespace
}  // namespace warden
