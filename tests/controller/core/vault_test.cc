#include "controller/core/vault.h"

#include <sqlite3.h>

#include "common/crypto.h"
#include "common/strings.h"
#include "tests/controller/fixture.h"

namespace warden::testing {
namespace {

constexpr const char* kVaultPolicy = R"(
vault:
  custodians: [admins, approvers]
  max_wrap_ttl: 30m
  paths:
    "kv/*":
      read: [operators, admins]
      write: [admins]
      list: [operators, admins]
      delete: [admins]
      destroy: [admins]
    "kv/tier0/*":
      read: [operators]
      write: [admins]
      list: [operators]
      control_group: {approvals: 2, groups: [approvers], ttl: 15m}
    "kv/appliance/*":
      read: [operators]
      write: [admins]
      checkout: {lease: 1h, rotate_after_use: true}
)";

class VaultTest : public CoreFixture {
 protected:
  void SetUp() override {
    CoreFixture::SetUp();
    auto policy = ParsePolicy(std::string(kTestPolicy) + kVaultPolicy);
    ASSERT_TRUE(policy.ok()) << policy.status().message();
    policy_ = std::move(*policy);
    audit_ = OpenAuditLog();
  }
  // A vault initialised with `mode`, started; returns its shares.
  std::vector<std::string> Init(const std::string& mode) {
    auto shares = InitializeVault(*store_, keys_, VaultInit{mode, 5, 3});
    EXPECT_TRUE(shares.ok()) << shares.status().message();
    vault_ = std::make_unique<Vault>(policy_, *store_, keys_, *audit_, clock_);
    EXPECT_TRUE(vault_->Start().ok());
    return shares.ok() ? *shares : std::vector<std::string>{};
  }
  std::string Value(const absl::StatusOr<SecretRead>& r) {
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? std::string(r->value.view()) : "";
  }
  static std::string Message(const absl::Status& st) { return std::string(st.message()); }

  Policy policy_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<Vault> vault_;
};

TEST_F(VaultTest, ShamirSharesUnsealOnlyAsAQuorumOfCustodians) {
  std::vector<std::string> shares = Init("shamir");
  ASSERT_EQ(shares.size(), 5u);
  EXPECT_TRUE(vault_->Status().sealed);
  EXPECT_EQ(vault_->Put(Who("root"), "kv/a", ToBytes("x")).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_NE(Message(vault_->Read(Who("alice"), "kv/a", 0).status()).find("the vault is sealed"),
            std::string::npos);
  EXPECT_EQ(vault_->Unseal(Who("alice"), shares[0]).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto one = vault_->Unseal(Who("root"), shares[0]);
  ASSERT_TRUE(one.ok()) << one.status().message();
  EXPECT_EQ(one->progress, 1);
  EXPECT_TRUE(one->sealed);
  EXPECT_EQ(Message(vault_->Unseal(Who("root"), shares[1]).status()),
            "root already gave a share; the next must come from another custodian");
  EXPECT_EQ(Message(vault_->Unseal(Who("bob"), shares[0]).status()),
            "share 1 was already given; the next must be another");
  std::string typo = shares[1];
  typo[typo.size() - 12] = typo[typo.size() - 12] == '0' ? '1' : '0';
  EXPECT_NE(Message(vault_->Unseal(Who("bob"), typo).status()).find("mistyped"), std::string::npos);
  // Shares of another vault (another init) are refused by name.
  auto other = SplitSecret(RandomBytes(32), 5, 3, 42);
  EXPECT_EQ(Message(vault_->Unseal(Who("bob"), EncodeShare((*other)[1])).status()),
            "this share belongs to another vault (another init)");
  ASSERT_EQ(vault_->Unseal(Who("bob"), shares[3])->progress, 2);
  auto open = vault_->Unseal(Who("carol"), shares[4]);
  ASSERT_TRUE(open.ok());
  EXPECT_FALSE(open->sealed);
  ASSERT_TRUE(vault_->Put(Who("root"), "kv/a", ToBytes("x")).ok());
  EXPECT_EQ(Message(vault_->Unseal(Who("dave"), shares[2]).status()), "the vault is already unsealed");
  // Sealing drops the key at once.
  ASSERT_TRUE(vault_->Seal(Who("bob")).ok());
  EXPECT_TRUE(vault_->Status().sealed);
  EXPECT_EQ(vault_->Read(Who("alice"), "kv/a", 0).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(VaultTest, AWrongShareFailsAtTheQuorumAndTheUnsealStartsAgain) {
  std::vector<std::string> shares = Init("shamir");
  auto bad = DecodeShare(shares[2]);
  ASSERT_TRUE(bad.ok());
  bad->y.data()[0] ^= 0x5a;  // a well-formed share of the right set, with the wrong value
  ASSERT_TRUE(vault_->Unseal(Who("root"), shares[0]).ok());
  ASSERT_TRUE(vault_->Unseal(Who("bob"), shares[1]).ok());
  auto wrong = vault_->Unseal(Who("carol"), EncodeShare(*bad));
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(Message(wrong.status()).find("do not rebuild the vault's root key"), std::string::npos);
  EXPECT_EQ(vault_->Status().progress, 0);
  EXPECT_TRUE(vault_->Status().sealed);
  ASSERT_TRUE(vault_->Unseal(Who("carol"), shares[2]).ok());
  ASSERT_TRUE(vault_->Unseal(Who("bob"), shares[1]).ok());
  EXPECT_FALSE(vault_->Unseal(Who("root"), shares[4])->sealed);
}

TEST_F(VaultTest, Pkcs11ModeUnsealsAtStartAndItsRecoverySharesRebuildTheSameKey) {
  std::vector<std::string> recovery = Init("pkcs11");
  EXPECT_FALSE(vault_->Status().sealed);
  ASSERT_EQ(*vault_->Put(Who("root"), "kv/db", ToBytes("pw-1")), 1);
  // After a seal, the recovery shares unseal it (as they would with a lost token).
  ASSERT_TRUE(vault_->Seal(Who("root")).ok());
  ASSERT_TRUE(vault_->Unseal(Who("root"), recovery[0]).ok());
  ASSERT_TRUE(vault_->Unseal(Who("bob"), recovery[2]).ok());
  ASSERT_FALSE(vault_->Unseal(Who("carol"), recovery[4])->sealed);
  EXPECT_EQ(Value(vault_->Read(Who("alice"), "kv/db", 0)), "pw-1");
  // A restart unseals through the token again.
  Vault again(policy_, *store_, keys_, *audit_, clock_);
  ASSERT_TRUE(again.Start().ok());
  EXPECT_EQ(Value(again.Read(Who("alice"), "kv/db", 0)), "pw-1");
}

TEST_F(VaultTest, VersionsDeleteAndDestroyAndCapabilitiesAreEnforced) {
  Init("pkcs11");
  EXPECT_EQ(Message(vault_->Put(Who("alice"), "kv/app/db", ToBytes("v1")).status()),
            "alice may not write kv/app/db (vault path \"kv/*\" grants write to: admins)");
  ASSERT_EQ(*vault_->Put(Who("root"), "kv/app/db", ToBytes("v1")), 1);
  ASSERT_EQ(*vault_->Put(Who("root"), "kv/app/db", ToBytes("v2")), 2);
  EXPECT_EQ(Value(vault_->Read(Who("alice"), "kv/app/db", 0)), "v2");
  EXPECT_EQ(Value(vault_->Read(Who("alice"), "kv/app/db", 1)), "v1");
  EXPECT_EQ(vault_->Read(Who("erin"), "kv/app/db", 0).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(vault_->Read(Who("alice"), "secret/x", 0).status().code(),
            absl::StatusCode::kPermissionDenied) << "no policy: nobody";
  EXPECT_EQ(vault_->Put(Who("root"), "kv/../etc", ToBytes("x")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(vault_->Put(Who("root"), "kv/big", Bytes(kMaxSecretBytes + 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(*vault_->Delete(Who("root"), "kv/app/db", {}, false), 1);
  EXPECT_EQ(Message(vault_->Read(Who("alice"), "kv/app/db", 0).status()),
            "version 2 of kv/app/db was deleted");
  ASSERT_EQ(*vault_->Delete(Who("root"), "kv/app/db", {1}, true), 1);
  EXPECT_EQ(Message(vault_->Read(Who("alice"), "kv/app/db", 1).status()),
            "version 1 of kv/app/db was destroyed");
  auto meta = vault_->Metadata(Who("alice"), "kv/app/db");
  ASSERT_TRUE(meta.ok());
  ASSERT_EQ(meta->size(), 2u);
  EXPECT_NE((*meta)[0].destroyed, 0);
  EXPECT_NE((*meta)[1].deleted, 0);
  EXPECT_EQ(*vault_->List(Who("alice"), "kv/"), std::vector<std::string>{"kv/app/db"});
  EXPECT_TRUE(vault_->List(Who("erin"), "kv/")->empty());
}

TEST_F(VaultTest, CiphertextMovedToAnotherPathDoesNotDecrypt) {
  Init("pkcs11");
  ASSERT_TRUE(vault_->Put(Who("root"), "kv/a", ToBytes("secret-a")).ok());
  ASSERT_TRUE(vault_->Put(Who("root"), "kv/b", ToBytes("secret-b")).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "warden.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "UPDATE vault_versions SET wrapped_key=(SELECT wrapped_key FROM "
                         "vault_versions WHERE path='kv/b'), ciphertext=(SELECT ciphertext FROM "
                         "vault_versions WHERE path='kv/b') WHERE path='kv/a'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto moved = vault_->Read(Who("alice"), "kv/a", 0);
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(Message(moved.status()).find("moved from another path or version"), std::string::npos);
  EXPECT_EQ(Message(moved.status()).find("secret-b"), std::string::npos);
  EXPECT_EQ(Value(vault_->Read(Who("alice"), "kv/b", 0)), "secret-b");
}

TEST_F(VaultTest, DualControlGivesATokenThatOpensOnceAfterTwoOtherApprovers) {
  Init("pkcs11");
  ASSERT_TRUE(vault_->Put(Who("root"), "kv/tier0/domain-admin", ToBytes("Tr0ub4dor&3")).ok());
  auto req = vault_->Read(Who("alice"), "kv/tier0/domain-admin", 0);
  ASSERT_TRUE(req.ok()) << req.status().message();
  EXPECT_EQ(req->value.size(), 0u) << "the requester gets a token, not the secret";
  EXPECT_EQ(req->token.rfind("wvt_", 0), 0u);
  const std::string accessor = req->wrap.accessor;
  EXPECT_EQ(req->wrap.approvals_required, 2);
  EXPECT_EQ(req->wrap.expires, clock_.Now() + 900);
  EXPECT_EQ(Message(vault_->Unwrap(Who("alice"), req->token).status()),
            "0 of 2 authorizations so far; approvers run: wardenctl vault authorize " + accessor +
                " --reason ...");
  EXPECT_EQ(Message(vault_->Authorize(Who("alice"), accessor, "me").status()),
            "alice may not authorize their own request");
  EXPECT_EQ(vault_->Authorize(Who("erin"), accessor, "dba").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(vault_->Authorize(Who("bob"), accessor, " ").status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(vault_->Authorize(Who("bob"), accessor, "CHG-1").ok());
  EXPECT_EQ(vault_->Authorize(Who("bob"), accessor, "CHG-1 again").status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_NE(Message(vault_->Unwrap(Who("alice"), req->token).status()).find("1 of 2"),
            std::string::npos) << "one person counts once";
  // Another request by the same person for the same secret is not unlocked by these approvals.
  auto second = vault_->Read(Who("alice"), "kv/tier0/domain-admin", 0);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(vault_->Authorize(Who("carol"), accessor, "CHG-1").ok());
  EXPECT_NE(Message(vault_->Unwrap(Who("alice"), second->token).status()).find("0 of 2"),
            std::string::npos);
  EXPECT_EQ(Message(vault_->Unwrap(Who("bob"), req->token).status()),
            "this wrapping token was issued to alice, not bob");
  EXPECT_EQ(Value(vault_->Unwrap(Who("alice"), req->token)), "Tr0ub4dor&3");
  EXPECT_NE(Message(vault_->Unwrap(Who("alice"), req->token).status()).find("already unwrapped"),
            std::string::npos);
  EXPECT_EQ(vault_->Unwrap(Who("alice"), "wvt_forged").status().code(), absl::StatusCode::kNotFound);
  auto info = vault_->LookupWrap(Who("dave"), accessor);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->unwrapped);
  ASSERT_EQ(info->approvals.size(), 2u);
  EXPECT_EQ(info->approvals[0].reason, "CHG-1");
}

TEST_F(VaultTest, AnUnusedTokenDiesAtItsTtlAndASealedVaultRefusesUnwrap) {
  Init("pkcs11");
  ASSERT_TRUE(vault_->Put(Who("root"), "kv/tier0/san", ToBytes("pw")).ok());
  auto req = vault_->Read(Who("alice"), "kv/tier0/san", 0);
  ASSERT_TRUE(req.ok());
  ASSERT_TRUE(vault_->Authorize(Who("bob"), req->wrap.accessor, "r").ok());
  ASSERT_TRUE(vault_->Authorize(Who("carol"), req->wrap.accessor, "r").ok());
  ASSERT_TRUE(vault_->Seal(Who("root")).ok());
  EXPECT_EQ(vault_->Unwrap(Who("alice"), req->token).status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(vault_->Start().ok());
  clock_.Advance(901);
  EXPECT_NE(Message(vault_->Unwrap(Who("alice"), req->token).status()).find("expired"),
            std::string::npos);
  EXPECT_NE(Message(vault_->Authorize(Who("dave"), req->wrap.accessor, "late").status()).find("expired"),
            std::string::npos);
}

TEST_F(VaultTest, ACheckOutIsExclusiveAndItsCheckInMarksTheVersionUsed) {
  Init("pkcs11");
  ASSERT_TRUE(vault_->Put(Who("root"), "kv/appliance/san-admin", ToBytes("pw-1")).ok());
  auto alice = vault_->Read(Who("alice"), "kv/appliance/san-admin", 0);
  ASSERT_EQ(Value(alice), "pw-1");
  EXPECT_EQ(alice->checked_out_until, clock_.Now() + 3600);
  auto bob = vault_->Read(Who("bob"), "kv/appliance/san-admin", 0);
  ASSERT_FALSE(bob.ok());
  EXPECT_NE(Message(bob.status()).find("is checked out by alice until"), std::string::npos);
  EXPECT_FALSE(vault_->CheckIn(Who("bob"), "kv/appliance/san-admin").ok());
  ASSERT_TRUE(vault_->CheckIn(Who("alice"), "kv/appliance/san-admin").ok());
  EXPECT_NE((*vault_->Metadata(Who("alice"), "kv/appliance/san-admin"))[0].used, 0)
      << "rotate after use: the version is marked used";
  EXPECT_NE(ReadAll(dir_ / "audit.log").find("\"event\":\"vault.rotate_needed\""), std::string::npos);
  EXPECT_EQ(Value(vault_->Read(Who("bob"), "kv/appliance/san-admin", 0)), "pw-1");
  // A check-out that runs out is over for the next reader, and counts as used.
  clock_.Advance(3601);
  EXPECT_EQ(Value(vault_->Read(Who("alice"), "kv/appliance/san-admin", 0)), "pw-1");
}

TEST_F(VaultTest, ACheckOutWhoseLeaseEndsIsEndedAndCountsAsAUse) {
  Init("pkcs11");
  ASSERT_TRUE(vault_->Put(Who("root"), "kv/appliance/san-admin", ToBytes("pw-1")).ok());
  ASSERT_EQ(Value(vault_->Read(Who("alice"), "kv/appliance/san-admin", 0)), "pw-1");
  EXPECT_EQ(*vault_->EndExpiredCheckouts(), 0) << "the lease still runs";
  clock_.Advance(3600);
  EXPECT_EQ(*vault_->EndExpiredCheckouts(), 1);
  EXPECT_NE((*vault_->Metadata(Who("alice"), "kv/appliance/san-admin"))[0].used, 0);
  EXPECT_NE(ReadAll(dir_ / "audit.log").find("\"why\":\"lease ended\""), std::string::npos);
  EXPECT_EQ(Message(vault_->CheckIn(Who("alice"), "kv/appliance/san-admin")),
            "kv/appliance/san-admin is not checked out by alice");
  EXPECT_EQ(Value(vault_->Read(Who("bob"), "kv/appliance/san-admin", 0)), "pw-1");
}

// erin may not read kv/appliance/*: a check-in by her is refused alike whether the path is
// checked out, free, or has never existed, so she cannot probe which check-outs exist.
TEST_F(VaultTest, ACheckInWithoutTheRightToThePathRevealsNothing) {
  Init("pkcs11");
  ASSERT_TRUE(vault_->Put(Who("root"), "kv/appliance/san-admin", ToBytes("pw-1")).ok());
  ASSERT_TRUE(vault_->Put(Who("root"), "kv/appliance/free", ToBytes("pw-2")).ok());
  ASSERT_EQ(Value(vault_->Read(Who("alice"), "kv/appliance/san-admin", 0)), "pw-1");
  for (const char* path : {"kv/appliance/san-admin", "kv/appliance/free", "kv/appliance/none"}) {
    absl::Status st = vault_->CheckIn(Who("erin"), path);
    EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << path << ": " << st.message();
    EXPECT_EQ(Message(st), StrCat("erin may not read ", path,
                                  " (vault path \"kv/appliance/*\" grants read to: operators)"));
  }
  EXPECT_EQ(vault_->CheckIn(Who("bob"), "kv/appliance/san-admin").code(),
            absl::StatusCode::kFailedPrecondition)
      << "bob may read it: he learns it is not his check-out";
}

TEST_F(VaultTest, TheSealStatusIsForCustodiansAndAdmins) {
  Init("shamir");
  EXPECT_TRUE(vault_->StatusFor(Who("root")).ok()) << "an admin (and custodian)";
  auto bob = vault_->StatusFor(Who("bob"));  // an approver: a custodian here
  ASSERT_TRUE(bob.ok());
  EXPECT_TRUE(bob->sealed);
  auto alice = vault_->StatusFor(Who("alice"));
  EXPECT_EQ(alice.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(vault_->StatusFor(Who("erin")).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(VaultPolicy, TheMostSpecificPathWinsAndMistakesAreNamed) {
  auto p = ParsePolicy(std::string(kTestPolicy) + kVaultPolicy);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->VaultPathFor("kv/tier0/x")->pattern, "kv/tier0/*");
  EXPECT_EQ(p->VaultPathFor("kv/tier0")->pattern, "kv/*");
  EXPECT_EQ(p->VaultPathFor("other/x"), nullptr);
  EXPECT_EQ(p->vault_max_wrap_ttl, 1800);
  for (const auto& [yaml, want] : std::vector<std::pair<std::string, std::string>>{
           {"vault: {paths: {\"kv/*/x\": {read: [admins]}}}", "a single trailing *"},
           {"vault: {paths: {\"kv/*\": {peek: [admins]}}}", "unknown key \"peek\""},
           {"vault: {paths: {\"kv/*\": {read: [ghosts]}}}", "names unknown group \"ghosts\""},
           {"vault: {paths: {\"kv/*\": {control_group: {approvals: 0, groups: [admins]}}}}",
            "control_group needs approvals >= 1"},
           {"vault: {custodians: [nobody]}", "vault.custodians names unknown group"},
           {"vault: {sealed: true}", "unknown vault key \"sealed\""}}) {
    auto bad = ParsePolicy(std::string(kTestPolicy) + yaml + "\n");
    ASSERT_FALSE(bad.ok()) << yaml;
    EXPECT_NE(bad.status().message().find(want), std::string::npos) << bad.status().message();
  }
}

}  // namespace
}  // namespace warden::testing
