#include "controller/core/certificate_authority.h"

#include "common/sshbuf.h"
#include "tests/controller/fixture.h"

namespace warden {
namespace {

using testing::RunCommand;
using Ca = testing::CoreFixture;

std::string UserKey(const testing::TempDir& dir, const std::string& type = "ed25519") {
  std::filesystem::remove(dir / "id");
  std::filesystem::remove(dir / "id.pub");
  EXPECT_EQ(RunCommand("ssh-keygen -q -N '' -t " + type + " -f " + dir / "id").exit_code, 0);
  return testing::ReadAll(dir / "id.pub");
}

TEST_F(Ca, IssuedCertificateCarriesTheGrantsTerms) {
  GrantRow g = ApprovedGrant(3600);
  auto ic = ca_->SignUserKey(Who("alice"), {g.id, UserKey(dir_), {}, "", {}});
  ASSERT_TRUE(ic.ok()) << ic.status().message();
  const Certificate& c = ic->cert;
  EXPECT_EQ(c.principals, std::vector<std::string>{g.login});
  EXPECT_EQ(c.valid_after, static_cast<uint64_t>(clock_.Now() - 60));
  // cert_ttl (30m) is shorter than the grant (1h).
  EXPECT_EQ(c.valid_before, static_cast<uint64_t>(clock_.Now() + 1800));
  EXPECT_EQ(c.key_id, "alice:" + g.id + ":" + std::to_string(c.serial));
  EXPECT_NE(c.serial, 0u);
  EXPECT_EQ(c.extensions, (std::map<std::string, std::string>{{"permit-pty", ""}}));
  EXPECT_EQ(c.critical_options.at("source-address"), "10.0.0.0/8");
  auto tier0 = ca_->TrustedKeys("user", 0);
  EXPECT_EQ(c.signature_key, (*tier0)[0].public_key);
  Bytes blob = EncodeCertificate(c);
  auto parsed = ParseCertificate(blob);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(VerifyCertificate(*parsed, blob).ok());
}

TEST_F(Ca, ValidityNeverOutlivesTheGrant) {
  GrantRow g = ApprovedGrant(600);
  auto ic = ca_->SignUserKey(Who("alice"), {g.id, UserKey(dir_), {}, "", {}});
  ASSERT_TRUE(ic.ok());
  EXPECT_EQ(ic->cert.valid_before, static_cast<uint64_t>(g.end));
}

TEST_F(Ca, SerialsAreUnique) {
  GrantRow g = ApprovedGrant();
  std::set<uint64_t> serials;
  const std::string key = UserKey(dir_);
  for (int i = 0; i < 50; i++) {
    serials.insert(ca_->SignUserKey(Who("alice"), {g.id, key, {}, "", {}})->cert.serial);
  }
  EXPECT_EQ(serials.size(), 50u);
}

TEST_F(Ca, RequestsMayNarrowButNeverDropCriticalOptions) {
  GrantRow g = ApprovedGrant();
  const std::string key = UserKey(dir_);
  auto narrow = ca_->SignUserKey(Who("alice"), {g.id, key, {"10.1.2.3/32"}, "", {}});
  ASSERT_TRUE(narrow.ok());
  EXPECT_EQ(narrow->cert.critical_options.at("source-address"), "10.1.2.3/32");
  auto wider = ca_->SignUserKey(Who("alice"), {g.id, key, {"0.0.0.0/0"}, "", {}});
  ASSERT_EQ(wider.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(wider.status().message()).find("outside"), std::string::npos);
  auto ext = ca_->SignUserKey(Who("alice"), {g.id, key, {}, "", {"permit-X11-forwarding"}});
  EXPECT_EQ(ext.status().code(), absl::StatusCode::kPermissionDenied);
  auto ok_ext = ca_->SignUserKey(Who("alice"), {g.id, key, {}, "", {"permit-port-forwarding"}});
  ASSERT_TRUE(ok_ext.ok());
  EXPECT_TRUE(ok_ext->cert.extensions.count("permit-port-forwarding"));
  EXPECT_FALSE(ok_ext->cert.extensions.count("permit-pty"));
}

TEST_F(Ca, RoleForceCommandCannotBeReplaced) {
  auto r = access_->Create(Who("alice"), "tier1-db", "x", 0);
  auto done = access_->Approve(Who("erin"), r->row.id);
  ASSERT_EQ(done->row.state, "approved");
  const std::string key = UserKey(dir_);
  auto ic = ca_->SignUserKey(Who("alice"), {done->row.grant_id, key, {}, "", {}});
  ASSERT_TRUE(ic.ok());
  EXPECT_EQ(ic->cert.critical_options.at("force-command"), "/usr/bin/psql");
  EXPECT_EQ(ca_->SignUserKey(Who("alice"), {done->row.grant_id, key, {}, "/bin/sh", {}})
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(Ca, BadKeysAreRefusedWithAReason) {
  GrantRow g = ApprovedGrant();
  auto small = ca_->SignUserKey(Who("alice"), {g.id, UserKey(dir_, "rsa -b 1024"), {}, "", {}});
  ASSERT_EQ(small.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(small.status().message()).find("2048"), std::string::npos);
  auto garbage = ca_->SignUserKey(Who("alice"), {g.id, "ssh-ed25519 AAAA", {}, "", {}});
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  SshWriter big;
  big.String("ssh-rsa");
  big.Mpint(Bytes{1, 0, 1});
  big.Mpint(Bytes(20000, 0x7f));
  auto huge = ca_->SignUserKey(
      Who("alice"), {g.id, "ssh-rsa " + Base64Encode(big.bytes()), {}, "", {}});
  ASSERT_EQ(huge.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(huge.status().message()).find("16384"), std::string::npos);
}

TEST_F(Ca, OnlyTheOwnerOfAnActiveGrantGetsCertificates) {
  GrantRow g = ApprovedGrant();
  const std::string key = UserKey(dir_);
  EXPECT_EQ(ca_->SignUserKey(Who("bob"), {g.id, key, {}, "", {}}).status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(access_->Revoke(Who("alice"), g.id).ok());
  EXPECT_EQ(ca_->SignUserKey(Who("alice"), {g.id, key, {}, "", {}}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(Ca, RevocationPutsEveryCertificateOfTheGrantInTheKrl) {
  GrantRow g = ApprovedGrant();
  GrantRow other = ApprovedGrant();
  const std::string key = UserKey(dir_);
  auto c1 = ca_->SignUserKey(Who("alice"), {g.id, key, {}, "", {}});
  auto c2 = ca_->SignUserKey(Who("alice"), {g.id, key, {}, "", {}});
  auto c3 = ca_->SignUserKey(Who("alice"), {other.id, key, {}, "", {}});
  auto before = ca_->CurrentKrl();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->revoked, 0u);
  ASSERT_TRUE(access_->Revoke(Who("bob"), g.id).ok());
  auto after = ca_->CurrentKrl();
  ASSERT_TRUE(after.ok());
  EXPECT_GT(after->version, before->version);
  EXPECT_EQ(after->revoked, 2u);
  auto krl = ParseKrl(after->blob);
  ASSERT_TRUE(krl.ok());
  EXPECT_TRUE(KrlRevokesCertificate(*krl, c1->cert));
  EXPECT_TRUE(KrlRevokesCertificate(*krl, c2->cert));
  EXPECT_FALSE(KrlRevokesCertificate(*krl, c3->cert));
  // Once the revoked certificates have expired they drop out of the KRL.
  clock_.Advance(3600);
  ASSERT_TRUE(access_->Revoke(Who("bob"), other.id).ok());
  EXPECT_EQ(ca_->CurrentKrl()->revoked, 0u);
}

TEST_F(Ca, RotationKeepsOldAndNewTrustedUntilFinished) {
  auto before = ca_->TrustedKeys("user", 0);
  ASSERT_EQ(before->size(), 1u);
  EXPECT_EQ(ca_->Rotate(Who("alice"), 0, false).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto rotated = ca_->Rotate(Who("root"), 0, false);
  ASSERT_TRUE(rotated.ok()) << rotated.status().message();
  ASSERT_EQ(rotated->size(), 2u);
  EXPECT_EQ((*rotated)[0].state, "retiring");
  EXPECT_EQ((*rotated)[1].state, "active");
  // The fixture's CAs are Ed25519 (a data directory from before P-256 became the default): the
  // new key keeps the algorithm, so hosts' sshd needs no new key type.
  EXPECT_EQ(ParsePublicKey((*rotated)[1].public_key)->type, KeyType::kEd25519);
  EXPECT_EQ(ca_->Rotate(Who("root"), 0, false).status().code(),
            absl::StatusCode::kFailedPrecondition);
  GrantRow g = ApprovedGrant();
  auto ic = ca_->SignUserKey(Who("alice"), {g.id, UserKey(dir_), {}, "", {}});
  EXPECT_EQ(ic->cert.signature_key, (*rotated)[1].public_key);
  auto done = ca_->Rotate(Who("root"), 0, true);
  ASSERT_TRUE(done.ok());
  ASSERT_EQ(done->size(), 1u);
  EXPECT_EQ((*done)[0].public_key, (*rotated)[1].public_key);
  // Other tiers are untouched.
  EXPECT_EQ(ca_->TrustedKeys("user", 1)->size(), 1u);
}

// An Ed25519 CA (the default before) moves to P-256 by a rotation that names the algorithm; the
// algorithm is chosen when the rotation starts, never when it finishes.
TEST_F(Ca, ARotationCanMoveTheCaToAnotherAlgorithm) {
  auto rotated = ca_->Rotate(Who("root"), 1, false, KeyAlgorithm::kEcdsaP256);
  ASSERT_TRUE(rotated.ok()) << rotated.status().message();
  ASSERT_EQ(rotated->size(), 2u);
  EXPECT_EQ(ParsePublicKey((*rotated)[0].public_key)->type, KeyType::kEd25519);
  EXPECT_EQ(ParsePublicKey((*rotated)[1].public_key)->type, KeyType::kEcdsaP256);
  auto bad_finish = ca_->Rotate(Who("root"), 1, true, KeyAlgorithm::kEd25519);
  EXPECT_EQ(bad_finish.status().code(), absl::StatusCode::kInvalidArgument);
  auto done = ca_->Rotate(Who("root"), 1, true);
  ASSERT_TRUE(done.ok()) << done.status().message();
  ASSERT_EQ(done->size(), 1u);
  EXPECT_EQ(ParsePublicKey((*done)[0].public_key)->type, KeyType::kEcdsaP256);
}

TEST_F(Ca, TiersHaveDistinctCaKeys) {
  std::set<Bytes> keys;
  for (int t = 0; t <= kMaxTier; t++) {
    keys.insert((*ca_->TrustedKeys("user", t))[0].public_key);
    keys.insert((*ca_->TrustedKeys("host", t))[0].public_key);
  }
  EXPECT_EQ(keys.size(), 2u * (kMaxTier + 1));
}

// A certificate authority over an empty database and an in-memory key store.
struct BareCa {
  testing::TempDir dir;
  std::unique_ptr<SqliteStore> store = *SqliteStore::Open(dir / "warden.db");
  SoftwareKeyStore keys;
  FakeClock clock{1800000000};
  AccessCore access{std::make_shared<const Policy>(*ParsePolicy(testing::kTestPolicy)), *store,
                    clock};
  CertificateAuthority ca{access, *store, keys, clock};
};

// A data directory from before per-tier host CAs holds one host CA ("host-ca-1", stored as tier
// 0's). At start it stays tier 0's and the other tiers get their own, of its algorithm (Ed25519,
// the default before, or P-256); a second start adds none.
TEST(HostCas, AnOldSingleHostCaBecomesTier0sAndTheOtherTiersGetTheirOwn) {
  for (const auto& [alg, type] : {std::pair{KeyAlgorithm::kEd25519, KeyType::kEd25519},
                                  std::pair{KeyAlgorithm::kEcdsaP256, KeyType::kEcdsaP256}}) {
    SCOPED_TRACE(KeyAlgorithmName(alg));
    BareCa b;
    auto old = b.keys.Generate("host-ca-1", alg);
    ASSERT_TRUE(old.ok());
    ASSERT_TRUE(b.store->InsertCaKey({"host", 0, "host-ca-1", old->blob, "active", 1}).ok());

    ASSERT_TRUE(b.ca.EnsureHostCas().ok());
    ASSERT_TRUE(b.ca.EnsureHostCas().ok());
    std::set<Bytes> distinct;
    for (int t = 0; t <= kMaxTier; t++) {
      auto rows = b.ca.TrustedKeys("host", t);
      ASSERT_TRUE(rows.ok());
      ASSERT_EQ(rows->size(), 1u) << "tier " << t;
      distinct.insert((*rows)[0].public_key);
      // Same algorithm as the old key, so clients' configurations need no new key type.
      EXPECT_EQ(ParsePublicKey((*rows)[0].public_key)->type, type);
    }
    EXPECT_EQ((*b.ca.TrustedKeys("host", 0))[0].label, "host-ca-1");
    EXPECT_EQ(distinct.size(), static_cast<size_t>(kMaxTier + 1));
  }
}

// A stored CA key the code cannot read is damage to report, not an algorithm to guess.
TEST(HostCas, ADamagedStoredKeyIsReportedNotGuessed) {
  BareCa b;
  ASSERT_TRUE(b.store->InsertCaKey({"host", 0, "host-ca-1", Bytes{1, 2, 3}, "active", 1}).ok());
  absl::Status st = b.ca.EnsureHostCas();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("host-ca-1"), std::string::npos) << st.message();
  EXPECT_TRUE(b.ca.TrustedKeys("host", 1)->empty()) << "no key made on a guess";
}

}  // namespace
}  // namespace warden
