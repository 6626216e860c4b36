#include "controller/core/recordings.h"

#include <sqlite3.h>

#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>

#include "common/crypto.h"
#include "common/recording_chain.h"
#include "common/strings.h"
#include "tests/controller/fixture.h"

namespace warden::testing {
namespace {

class RecordingArchiveTest : public CoreFixture {
 protected:
  void SetUp() override {
    CoreFixture::SetUp();
    audit_ = OpenAuditLog();
    archive_ = std::make_unique<RecordingArchive>(*policy_, *store_, *store_, *store_, keys_,
                                                  *audit_, "audit-1");
    host_.user = "host/h-1";
    host_.host_id = "h-1";
    AddHost("h-1", 0, R"({"env":"prod"})");
    // alice's grant for the tier-0 role, whose account logs in on h-1 (tier 0, env=prod).
    GrantRow g;
    g.id = "g-1";
    g.request_id = "r-1";
    g.user = "alice";
    g.role = "tier0-linux-admin";
    g.login = "adm-alice";
    g.start = 1800000000;
    g.end = 1800003600;
    g.uid = 1879048199;
    ASSERT_TRUE(store_->InsertGrant(g).ok());
  }

  void AddHost(const std::string& id, int tier, const std::string& labels) {
    HostRow h;
    h.id = id;
    h.hostname = id;
    h.tier = tier;
    h.labels = labels;
    ASSERT_TRUE(store_->InsertHost(h).ok());
  }

  // The archive chains and stores a chunk's payload as it came, so `output` stands in for the
  // compressed events here; what it indexes of them comes decoded alongside.
  RecordingChunk Chunk(uint64_t seq, const std::string& output, bool final = false) {
    RecordingChunk c;
    c.session_id = "s-1";
    c.seq = seq;
    c.events_zstd = output;
    c.commands = {StrCat("systemctl restart-", seq)};
    if (seq == 1) {
      c.session.emplace();
      c.session->user = "adm-alice";
      c.session->started_ns = 1'800'000'000'000'000'000;
      c.session->grant_id = "g-1";
    }
    if (final) {
      c.final = true;
      c.ended_ns = 1'800'000'060'000'000'000;
    }
    return c;
  }

  std::vector<std::string> Outputs() {
    std::vector<std::string> out;
    EXPECT_TRUE(archive_->Read(Who("root"), "s-1", [&](const RecordingChunkRow& row) {
      out.emplace_back(row.data.begin(), row.data.end());
      return absl::OkStatus();
    }).ok());
    return out;
  }

  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "warden.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }

  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<RecordingArchive> archive_;
  Identity host_;
};

TEST_F(RecordingArchiveTest, ChunksAreStoredInOrderAndResendsAreAcknowledgedOnce) {
  ASSERT_EQ(*archive_->Accept(host_, Chunk(1, "one")), 1u);
  ASSERT_EQ(*archive_->Accept(host_, Chunk(2, "two")), 2u);
  // A reconnect resends chunk 2: acknowledged again, stored once.
  ASSERT_EQ(*archive_->Accept(host_, Chunk(2, "two")), 2u);
  auto gap = archive_->Accept(host_, Chunk(4, "four"));
  ASSERT_FALSE(gap.ok());
  EXPECT_NE(gap.status().message().find("out of order, expected 3"), std::string::npos);
  ASSERT_EQ(*archive_->Accept(host_, Chunk(3, "three", true)), 3u);
  EXPECT_EQ(Outputs(), (std::vector<std::string>{"one", "two", "three"}));
  auto v = archive_->Verify(Who("root"), "s-1");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok) << v->message;
  EXPECT_TRUE(v->sealed);
  EXPECT_EQ(v->chunks, 3u);
  auto after_seal = archive_->Accept(host_, Chunk(4, "four"));
  ASSERT_FALSE(after_seal.ok());
  EXPECT_NE(after_seal.status().message().find("already sealed"), std::string::npos);
}

// A key store whose signatures wait until the test lets them go (a slow or busy HSM).
class GatedSigner : public KeyStore, public Gate {
 public:
  explicit GatedSigner(KeyStore& keys) : keys_(keys) {}
  absl::StatusOr<PublicKey> Generate(std::string_view label, KeyAlgorithm alg) override {
    return keys_.Generate(label, alg);
  }
  absl::StatusOr<PublicKey> GetPublicKey(std::string_view label) override {
    return keys_.GetPublicKey(label);
  }
  absl::StatusOr<RawSignature> Sign(std::string_view label, ByteSpan data) override {
    Pass();
    return keys_.Sign(label, data);
  }
  absl::Status GenerateEncryptionKey(std::string_view label) override {
    return keys_.GenerateEncryptionKey(label);
  }
  absl::StatusOr<Bytes> Encrypt(std::string_view label, ByteSpan aad, ByteSpan plain) override {
    return keys_.Encrypt(label, aad, plain);
  }
  absl::StatusOr<SecretBytes> Decrypt(std::string_view label, ByteSpan aad, ByteSpan blob) override {
    return keys_.Decrypt(label, aad, blob);
  }
  absl::Status GenerateMacKey(std::string_view label) override { return keys_.GenerateMacKey(label); }
  absl::Status ImportMacKey(std::string_view label, ByteSpan key) override {
    return keys_.ImportMacKey(label, key);
  }
  absl::StatusOr<Bytes> Mac(std::string_view label, ByteSpan data) override {
    return keys_.Mac(label, data);
  }

 private:
  KeyStore& keys_;
};

// One host's upload that is slow to seal (the token is busy) does not hold up another host's.
TEST_F(RecordingArchiveTest, AnotherHostsUploadGoesOnWhileOneSessionIsSealed) {
  GatedSigner signer(keys_);
  RecordingArchive archive(*policy_, *store_, *store_, *store_, signer, *audit_, "audit-1");
  AddHost("h-2", 0, R"({"env":"prod"})");
  Identity other = host_;
  other.user = "host/h-2";
  other.host_id = "h-2";
  ASSERT_TRUE(archive.Accept(host_, Chunk(1, "one")).ok());
  auto sealing = std::async(std::launch::async, [&] { return archive.Accept(host_, Chunk(2, "two", true)); });
  signer.WaitEntered();
  RecordingChunk first = Chunk(1, "elsewhere");
  first.session_id = "s-2";
  auto elsewhere = std::async(std::launch::async, [&] { return archive.Accept(other, first); });
  const bool went_on = elsewhere.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  signer.LetGo();
  EXPECT_TRUE(went_on) << "h-2's upload waited for h-1's seal";
  ASSERT_TRUE(sealing.get().ok());
  auto stored = elsewhere.get();
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_EQ(*stored, 1u);
  auto v = archive.Verify(Who("root"), "s-1");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->sealed);
}

TEST_F(RecordingArchiveTest, WatchersSeeChunksAsTheyAreStoredUntilUnwatched) {
  ASSERT_TRUE(archive_->Accept(host_, Chunk(1, "one")).ok());
  EXPECT_EQ(archive_->Watch(Who("alice"), "s-1", [](const RecordingChunk&, const Bytes&) {})
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  std::vector<uint64_t> seen;
  auto id = archive_->Watch(Who("root"), "s-1", [&](const RecordingChunk& c, const Bytes& hash) {
    seen.push_back(c.seq);
    EXPECT_EQ(hash.size(), 32u);
  });
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(archive_->Accept(host_, Chunk(2, "two")).ok());
  ASSERT_TRUE(archive_->Accept(host_, Chunk(2, "two")).ok()) << "a resend is not news";
  archive_->Unwatch(*id);
  ASSERT_TRUE(archive_->Accept(host_, Chunk(3, "three", true)).ok());
  EXPECT_EQ(seen, std::vector<uint64_t>{2});
}

TEST_F(RecordingArchiveTest, SearchByCommandFindsTheSession) {
  ASSERT_TRUE(archive_->Accept(host_, Chunk(1, "x")).ok());
  ASSERT_TRUE(archive_->Accept(host_, Chunk(2, "y")).ok());
  RecordingFilter f;
  f.command = "restart-2";
  auto hit = archive_->List(Who("root"), f);
  ASSERT_TRUE(hit.ok());
  ASSERT_EQ(hit->size(), 1u);
  EXPECT_EQ(hit->front().user, "adm-alice");
  f.command = "rm -rf";
  EXPECT_TRUE(archive_->List(Who("root"), f)->empty());
}

TEST_F(RecordingArchiveTest, AnAlertInTheRecordingIsAuditedAndFlagsTheSession) {
  ASSERT_TRUE(archive_->Accept(host_, Chunk(1, "x")).ok());
  EXPECT_TRUE(archive_->Get(Who("root"), "s-1")->alerts.empty());
  RecordingChunk c = Chunk(2, "y");
  for (int i = 0; i < 2; i++) c.alerts.push_back({"redaction_limit", "4 lines typed without echo"});
  ASSERT_TRUE(archive_->Accept(host_, c).ok());
  ASSERT_TRUE(archive_->Accept(host_, c).ok()) << "a resend";
  auto listed = archive_->List(Who("root"), RecordingFilter());
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().alerts, std::vector<std::string>{"redaction_limit"});
  std::ifstream log(dir_ / "audit.log");
  std::string line;
  int audited = 0;
  while (std::getline(log, line)) {
    if (line.find("\"recording.alert\"") != std::string::npos &&
        line.find("redaction_limit") != std::string::npos)
      audited++;
  }
  EXPECT_EQ(audited, 2) << "each alert once, not again for the resend";
}

TEST_F(RecordingArchiveTest, BadChunksAreRefusedWithAReasonAndNothingIsStored) {
  Identity other = host_;
  other.host_id = "h-2";
  ASSERT_TRUE(archive_->Accept(host_, Chunk(1, "one")).ok());
  auto foreign = archive_->Accept(other, Chunk(2, "two"));
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("belongs to another host"), std::string::npos);

  RecordingChunk no_id = Chunk(2, "two");
  no_id.session_id.clear();
  EXPECT_EQ(archive_->Accept(host_, no_id).status().code(), absl::StatusCode::kInvalidArgument);

  RecordingChunk anonymous = Chunk(1, "one");
  anonymous.session_id = "s-2";
  anonymous.session.reset();
  auto no_info = archive_->Accept(host_, anonymous);
  ASSERT_FALSE(no_info.ok());
  EXPECT_NE(no_info.status().message().find("must describe it"), std::string::npos);

  Identity operator_id = Who("alice");
  EXPECT_EQ(archive_->Accept(operator_id, Chunk(2, "two")).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Outputs(), (std::vector<std::string>{"one"}));
}

TEST_F(RecordingArchiveTest, OnlyRecordingViewersSeeRecordings) {
  ASSERT_TRUE(archive_->Accept(host_, Chunk(1, "one")).ok());
  auto denied = archive_->Get(Who("alice"), "s-1");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(denied.status().message().find("recording viewer groups: admins"), std::string::npos);
  EXPECT_FALSE(archive_->Verify(Who("alice"), "s-1").ok());
  EXPECT_EQ(archive_->Get(Who("root"), "s-9").status().code(), absl::StatusCode::kNotFound);
}

// Someone with write access to the database edits what a chunk says, or drops one: verify says
// which chunk, and an edit that also rewrites the hashes still breaks the signed seal.
TEST_F(RecordingArchiveTest, VerifyFindsTampering) {
  for (uint64_t i = 1; i <= 3; i++) ASSERT_TRUE(archive_->Accept(host_, Chunk(i, "data", i == 3)).ok());
  RecordingChunk forged = Chunk(2, "innocent");
  Sql(StrCat("UPDATE recording_chunks SET data=x'", HexEncode(AsBytes(forged.events_zstd)),
             "' WHERE seq=2"));
  auto v = archive_->Verify(Who("root"), "s-1");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->message, "chunk 2 was altered: its hash does not chain");

  Sql("DELETE FROM recording_chunks WHERE seq=2");
  v = archive_->Verify(Who("root"), "s-1");
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->message, "chunk 2 is missing");
}

TEST_F(RecordingArchiveTest, ARewrittenChainDoesNotMatchTheSignedSeal) {
  RecordingChunk one = Chunk(1, "data");
  ASSERT_TRUE(archive_->Accept(host_, one).ok());
  ASSERT_TRUE(archive_->Accept(host_, Chunk(2, "rm -rf /srv", true)).ok());
  // The forger recomputes every hash after replacing chunk 2.
  RecordingChunk forged = Chunk(2, "ls");
  Bytes h1 = ChainNext(ChainStart("s-1"), 1, one.events_zstd);
  Bytes h2 = ChainNext(h1, 2, forged.events_zstd);
  Sql(StrCat("UPDATE recording_chunks SET data=x'", HexEncode(AsBytes(forged.events_zstd)),
             "', hash=x'", HexEncode(h2), "' WHERE seq=2"));
  Sql(StrCat("UPDATE recordings SET last_hash=x'", HexEncode(h2), "'"));
  EXPECT_EQ(Outputs(), (std::vector<std::string>{"data", "ls"}));
  auto v = archive_->Verify(Who("root"), "s-1");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->message, "the end record's signature does not verify");
}

// The final chunk is stored, but its seal cannot be signed (the token refused); the host never
// gets the ack and resends it once the token is back: the resend seals the recording, and a live
// viewer sees the end.
TEST_F(RecordingArchiveTest, AResentFinalChunkSealsTheRecording) {
  archive_ = std::make_unique<RecordingArchive>(*policy_, *store_, *store_, *store_, keys_,
                                                *audit_, "seal-2");
  ASSERT_TRUE(archive_->Accept(host_, Chunk(1, "one")).ok());
  std::vector<bool> finals;
  auto id = archive_->Watch(Who("root"), "s-1", [&](const RecordingChunk& c, const Bytes&) {
    finals.push_back(c.final);
  });
  ASSERT_TRUE(id.ok());
  EXPECT_FALSE(archive_->Accept(host_, Chunk(2, "two", true)).ok()) << "no key to seal with yet";
  ASSERT_TRUE(keys_.Generate("seal-2", KeyAlgorithm::kEd25519).ok());
  ASSERT_EQ(*archive_->Accept(host_, Chunk(2, "two", true)), 2u);
  archive_->Unwatch(*id);
  auto v = archive_->Verify(Who("root"), "s-1");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok) << v->message;
  EXPECT_TRUE(v->sealed) << "the resent final chunk must seal the recording";
  EXPECT_EQ(v->chunks, 2u);
  EXPECT_EQ(finals, std::vector<bool>{true});
  // A third delivery changes nothing.
  ASSERT_EQ(*archive_->Accept(host_, Chunk(2, "two", true)), 2u);
  EXPECT_EQ(Outputs(), (std::vector<std::string>{"one", "two"}));
}

// A tier-1 host (or a tier-0 host the role does not select, or one naming another account's
// grant) files a session under alice's tier-0 grant: refused, nothing stored.
TEST_F(RecordingArchiveTest, AHostUploadsOnlyForGrantsThatTargetIt) {
  AddHost("h-t1", 1, "{}");
  AddHost("h-dev", 0, R"({"env":"dev"})");
  struct Case {
    std::string host, user, grant, why;
  } cases[] = {
      {"h-t1", "adm-alice", "g-1", "does not target host h-t1 (tier 1)"},
      {"h-dev", "adm-alice", "g-1", "does not target host h-dev (tier 0)"},
      {"h-1", "adm-bob", "g-1", "whose account is adm-alice"},
      {"h-1", "adm-alice", "g-404", "which does not exist"},
      {"h-1", "adm-alice", "", "which does not exist"},
  };
  for (const Case& c : cases) {
    Identity h;
    h.user = "host/" + c.host;
    h.host_id = c.host;
    RecordingChunk chunk = Chunk(1, "x");
    chunk.session_id = "s-" + c.host + c.user + c.grant;
    chunk.session->user = c.user;
    chunk.session->grant_id = c.grant;
    auto st = archive_->Accept(h, chunk);
    ASSERT_EQ(st.status().code(), absl::StatusCode::kPermissionDenied) << c.host << " " << c.user;
    EXPECT_NE(st.status().message().find(c.why), std::string::npos) << st.status().message();
    EXPECT_EQ(archive_->Get(Who("root"), chunk.session_id).status().code(),
              absl::StatusCode::kNotFound);
  }
  ASSERT_TRUE(archive_->Accept(host_, Chunk(1, "x")).ok()) << "the grant's own host uploads";
}

// alice may moderate nothing: whether a session exists, is live or has ended, she hears the
// same refusal.
TEST_F(RecordingArchiveTest, TerminatingWithoutTheRightRevealsNothingAboutTheSession) {
  ASSERT_TRUE(archive_->Accept(host_, Chunk(1, "one", true)).ok());  // s-1 has ended
  for (const char* id : {"s-1", "s-404"}) {
    absl::Status st = archive_->Terminate(Who("alice"), id, "probe");
    EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << id << ": " << st.message();
    EXPECT_EQ(archive_->JoinModerator(Who("alice"), id).status().code(),
              absl::StatusCode::kPermissionDenied);
  }
  EXPECT_EQ(archive_->Terminate(Who("root"), "s-404", "").code(), absl::StatusCode::kNotFound)
      << "a recording viewer may learn that it does not exist";
  EXPECT_EQ(archive_->Terminate(Who("root"), "s-1", "").message(), "session s-1 has ended")
      << "and, being allowed to moderate it, that it has ended";
}

}  // namespace
}  // namespace warden::testing

namespace warden::testing {
namespace {

// A policy with one more role, `role` (YAML, logging in as "<login>-alice"), alice's grant g-9 for
// it, and session s-1 of that grant on h-1; what is sent to h-1 is kept in sent_.
class RoleSessionTest : public RecordingArchiveTest {
 protected:
  void OpenSession(const std::string& role_yaml, const std::string& role, const std::string& login) {
    auto policy = ParsePolicy(std::string(kTestPolicy) + role_yaml);
    ASSERT_TRUE(policy.ok()) << policy.status().message();
    policy_ = std::move(*policy);
    archive_ = std::make_unique<RecordingArchive>(policy_, *store_, *store_, *store_, keys_,
                                                  *audit_, "audit-1");
    ASSERT_NO_FATAL_FAILURE(AddSession("s-1", "g-9", "alice", role, login, 1879048200));
    sink_ = archive_->AttachHost("h-1", [this](const SessionControl& m) { sent_.push_back(m); });
  }
  // `user`'s grant `grant` for `role` (account `login`, `uid`) and its session `session` on h-1.
  void AddSession(const std::string& session, const std::string& grant, const std::string& user,
                  const std::string& role, const std::string& login, uint32_t uid) {
    GrantRow g;
    g.id = grant;
    g.request_id = "r-" + grant;
    g.user = user;
    g.role = role;
    g.login = login;
    g.start = 1800000000;
    g.end = 1800003600;
    g.uid = uid;
    ASSERT_TRUE(store_->InsertGrant(g).ok());
    RecordingChunk c = Chunk(1, "");
    c.session_id = session;
    c.session->user = login;
    c.session->grant_id = grant;
    ASSERT_TRUE(archive_->Accept(host_, c).ok());
  }
  void TearDown() override {
    if (sink_) archive_->DetachHost(sink_);
  }

  Policy policy_;
  uint64_t sink_ = 0;
  std::vector<SessionControl> sent_;
};

// A role whose sessions need two moderators from the approvers, and one of its sessions.
class ModerationTest : public RoleSessionTest {
 protected:
  void SetUp() override {
    RecordingArchiveTest::SetUp();
    OpenSession(R"(
  tier0-moderated:
    tier: 0
    login: "fix-{{user}}"
    approvals: {count: 2, groups: [approvers]}
    require_moderator: {count: 2, groups: [approvers]}
)", "tier0-moderated", "fix-alice");
  }
  // The moderator counts sent to the host so far.
  std::vector<uint32_t> Counts() {
    std::vector<uint32_t> out;
    for (const auto& m : sent_) {
      EXPECT_EQ(m.session_id, "s-1");
      if (m.terminated_by.empty()) out.push_back(m.moderators);
    }
    return out;
  }
};

TEST_F(ModerationTest, OnlyTheRolesModeratorGroupsModerateAndNeverTheRequester) {
  auto alice = archive_->JoinModerator(Who("alice"), "s-1");
  ASSERT_FALSE(alice.ok());
  EXPECT_NE(alice.status().message().find("alice may not moderate sessions"), std::string::npos)
      << alice.status().message();
  // bob moderates this role's sessions, but never one of his own grant's.
  ASSERT_NO_FATAL_FAILURE(AddSession("s-bob", "g-10", "bob", "tier0-moderated", "fix-bob", 1879048201));
  auto own = archive_->JoinModerator(Who("bob"), "s-bob");
  ASSERT_FALSE(own.ok());
  EXPECT_EQ(own.status().message(), "bob may not moderate their own session (grant g-10)");
  auto admin = archive_->JoinModerator(Who("root"), "s-1");
  ASSERT_FALSE(admin.ok());
  EXPECT_NE(admin.status().message().find(
                "root may not moderate sessions of role tier0-moderated (needs one of its "
                "moderator groups: approvers)"),
            std::string::npos)
      << admin.status().message();
  EXPECT_FALSE(archive_->Terminate(Who("alice"), "s-1", "mine").ok());
  EXPECT_TRUE(sent_.empty());
  // bob is no recording viewer, yet moderates (and so watches) this live session.
  EXPECT_TRUE(archive_->Get(Who("bob"), "s-1").ok());
  auto listed = archive_->List(Who("bob"), RecordingFilter{});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(archive_->List(Who("erin"), RecordingFilter{}).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(ModerationTest, ModeratorsAreCountedOncePerPersonAndTheHostIsTold) {
  auto bob = archive_->JoinModerator(Who("bob"), "s-1");
  ASSERT_TRUE(bob.ok()) << bob.status().message();
  auto bob_again = archive_->JoinModerator(Who("bob"), "s-1");  // a second window
  ASSERT_TRUE(bob_again.ok());
  auto carol = archive_->JoinModerator(Who("carol"), "s-1");
  ASSERT_TRUE(carol.ok());
  RecordingRow rec = *archive_->Get(Who("root"), "s-1");
  EXPECT_EQ(archive_->QuorumOf(rec).required, 2);
  EXPECT_EQ(archive_->QuorumOf(rec).present, 2);
  archive_->LeaveModerator(*carol);
  archive_->LeaveModerator(*bob);
  EXPECT_EQ(Counts(), (std::vector<uint32_t>{1, 1, 2, 1, 1}));
  // A host that connects later learns who is watching now.
  std::vector<SessionControl> late;
  const uint64_t id =
      archive_->AttachHost("h-1", [&](const SessionControl& m) { late.push_back(m); });
  archive_->DetachHost(id);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].moderators, 1u);
  archive_->LeaveModerator(*bob_again);
  // Once the session has ended, nobody joins it and only viewers read it.
  ASSERT_TRUE(archive_->Accept(host_, Chunk(2, "bye", true)).ok());
  auto after = archive_->JoinModerator(Who("carol"), "s-1");
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().message(), "session s-1 has ended");
  EXPECT_EQ(archive_->Get(Who("bob"), "s-1").status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(ModerationTest, ATerminationReachesTheHostNowOrWhenItNextConnects) {
  archive_->DetachHost(sink_);
  ASSERT_TRUE(archive_->Terminate(Who("dave"), "s-1", "wrong host").ok());
  sink_ = archive_->AttachHost("h-1", [this](const SessionControl& m) { sent_.push_back(m); });
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].terminated_by, "dave");
  EXPECT_EQ(sent_[0].reason, "wrong host");
  std::vector<SessionControl> other;
  const uint64_t id =
      archive_->AttachHost("h-2", [&](const SessionControl& m) { other.push_back(m); });
  archive_->DetachHost(id);
  EXPECT_TRUE(other.empty()) << "another host hears nothing of it";
  ASSERT_TRUE(archive_->Accept(host_, Chunk(2, "bye", true)).ok());
  std::vector<SessionControl> after;
  const uint64_t again =
      archive_->AttachHost("h-1", [&](const SessionControl& m) { after.push_back(m); });
  archive_->DetachHost(again);
  EXPECT_TRUE(after.empty()) << "the session ended: nothing left to terminate";
}

// GetRecording's rules: a moderator follows the session they moderate, and is counted for as
// long as the playback lasts; the chunks stored meanwhile reach them live.
TEST_F(ModerationTest, AModeratorPlaysTheLiveSessionFollowingItAndCountsUntilLeaving) {
  auto unfollowed = archive_->Play(Who("bob"), "s-1", /*follow=*/false, /*moderate=*/true,
                                   [](const RecordingChunk&, const Bytes&) {});
  EXPECT_EQ(unfollowed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(sent_.empty()) << "refused before joining";

  std::vector<uint64_t> live;
  auto p = archive_->Play(Who("bob"), "s-1", /*follow=*/true, /*moderate=*/true,
                          [&](const RecordingChunk& c, const Bytes&) { live.push_back(c.seq); });
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->rec.session_id, "s-1");
  ASSERT_EQ(p->chunks.size(), 1u);
  EXPECT_EQ(p->chunks[0].seq, 1u);
  EXPECT_EQ(Counts(), std::vector<uint32_t>{1});
  ASSERT_TRUE(archive_->Accept(host_, Chunk(2, "two")).ok());
  EXPECT_EQ(live, std::vector<uint64_t>{2});
  archive_->Unwatch(p->watch);
  archive_->LeaveModerator(p->moderator);
  EXPECT_EQ(Counts(), (std::vector<uint32_t>{1, 0}));
}

TEST_F(ModerationTest, APlaybackRefusedLeavesNothingSubscribed) {
  int live = 0;
  auto p = archive_->Play(Who("erin"), "s-1", /*follow=*/true, /*moderate=*/false,
                          [&](const RecordingChunk&, const Bytes&) { live++; });
  EXPECT_EQ(p.status().code(), absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(archive_->Accept(host_, Chunk(2, "two")).ok());
  EXPECT_EQ(live, 0);
}

// A role without require_moderator whose sessions are held at their redaction limit
// (on_redaction_limit: hold), and one of its sessions.
class HoldModerationTest : public RoleSessionTest {
 protected:
  void SetUp() override {
    RecordingArchiveTest::SetUp();
    OpenSession(R"(
  tier0-held:
    tier: 0
    login: "hold-{{user}}"
    approvals: {count: 2, groups: [approvers]}
    recording: {max_redacted_lines: 1, on_redaction_limit: hold}
)", "tier0-held", "hold-alice");
  }
  // The host flags the session: its chunk 2 carries the redaction_limit alert.
  void Flag() {
    RecordingChunk c = Chunk(2, "");
    c.alerts.push_back({"redaction_limit", "2 lines typed without echo; holding it for a moderator"});
    ASSERT_TRUE(archive_->Accept(host_, c).ok());
  }
  RecordingArchive::Quorum Quorum() {
    return archive_->QuorumOf(*archive_->Get(Who("root"), "s-1"));
  }
  std::vector<uint32_t> Counts() {
    std::vector<uint32_t> out;
    for (const auto& m : sent_) out.push_back(m.moderators);
    return out;
  }
};

TEST_F(HoldModerationTest, TheRolesApproversModerateASessionOnlyOnceItIsHeld) {
  auto early = archive_->JoinModerator(Who("bob"), "s-1");
  ASSERT_FALSE(early.ok());
  EXPECT_NE(early.status().message().find(
                "bob may not moderate session s-1 of role tier0-held (members of approvers "
                "moderate its sessions once one is held at its redaction limit"),
            std::string::npos)
      << early.status().message();
  EXPECT_EQ(archive_->Get(Who("bob"), "s-1").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(archive_->List(Who("bob"), RecordingFilter{}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Quorum().required, 0);

  Flag();
  EXPECT_EQ(Quorum().required, 1) << "held: waiting for one moderator";
  EXPECT_EQ(Quorum().present, 0);
  EXPECT_TRUE(archive_->Get(Who("bob"), "s-1").ok()) << "bob may watch it now";
  auto listed = archive_->List(Who("bob"), RecordingFilter{});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);
  auto erin = archive_->JoinModerator(Who("erin"), "s-1");
  ASSERT_FALSE(erin.ok());
  EXPECT_NE(erin.status().message().find("erin may not moderate sessions"), std::string::npos)
      << erin.status().message();
  EXPECT_TRUE(sent_.empty());

  auto bob = archive_->JoinModerator(Who("bob"), "s-1");
  ASSERT_TRUE(bob.ok()) << bob.status().message();
  EXPECT_EQ(Counts(), std::vector<uint32_t>{1}) << "the host learns that one watches";
  EXPECT_EQ(Quorum().present, 1);
  archive_->LeaveModerator(*bob);
  EXPECT_EQ(Counts(), (std::vector<uint32_t>{1, 0}));
}

TEST_F(HoldModerationTest, TheRequesterNeverModeratesTheirOwnHeldSession) {
  // bob is an approver and the requester of this grant.
  ASSERT_NO_FATAL_FAILURE(AddSession("s-bob", "g-10", "bob", "tier0-held", "hold-bob", 1879048201));
  auto own = archive_->JoinModerator(Who("bob"), "s-bob");
  ASSERT_FALSE(own.ok());
  EXPECT_EQ(own.status().message(), "bob may not moderate their own session (grant g-10)");
}

TEST_F(HoldModerationTest, ARecordingViewerWatchesAndEndsAHeldSessionButDoesNotResumeIt) {
  Flag();
  auto root = archive_->JoinModerator(Who("root"), "s-1");
  ASSERT_TRUE(root.ok()) << root.status().message();
  EXPECT_EQ(Counts(), std::vector<uint32_t>{0}) << "root watches, but does not count";
  EXPECT_EQ(Quorum().present, 0);
  auto carol = archive_->JoinModerator(Who("carol"), "s-1");
  ASSERT_TRUE(carol.ok()) << carol.status().message();
  EXPECT_EQ(Counts(), (std::vector<uint32_t>{0, 1}));
  ASSERT_TRUE(archive_->Terminate(Who("root"), "s-1", "enough").ok());
  ASSERT_FALSE(sent_.empty());
  EXPECT_EQ(sent_.back().terminated_by, "root");
  archive_->LeaveModerator(*carol);
  archive_->LeaveModerator(*root);
  // Once it has ended, the approvers no longer read it.
  ASSERT_TRUE(archive_->Accept(host_, Chunk(3, "bye", true)).ok());
  EXPECT_EQ(archive_->Get(Who("carol"), "s-1").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(archive_->JoinModerator(Who("carol"), "s-1").status().message(),
            "session s-1 has ended");
}

}  // namespace
}  // namespace warden::testing
