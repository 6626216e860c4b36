// Rotation and reconciliation: the rules against an in-memory target, then PostgreSQL roles
// (and the connection's own admin) rotated on a real PostgreSQL.
#include "controller/core/rotation.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <functional>
#include <set>

#include "common/strings.h"
#include "controller/alerts/alert_forwarder.h"
#include "controller/core/db_credentials.h"
#include "controller/db/postgres_driver.h"
#include "controller/ldap/ldap_target.h"
#include "tests/controller/fixture.h"
#include "tests/postgres.h"

namespace warden::testing {
namespace {

constexpr const char* kRotationPolicy = R"(
vault:
  paths:
    "db/*": {write: [admins], read: [operators], rotate: [dbas]}
    "app/*":
      write: [admins]
      read: [operators]
      checkout: {lease: 1h, rotate_after_use: true}
databases:
  connections:
    appdb:
      host: 127.0.0.1
      port: PORT
      database: postgres
      admin_user: warden_admin
      admin_password: db/appdb/admin
rotation:
  targets:
    "db/appdb/reporting":
      kind: postgres
      connection: appdb
      user: reporting
      period: 1h
      jitter: 10m
      reconcile_every: 30m
      password: {length: 24, exclude: "'\"\\"}
    "app/svc":
      kind: postgres
      connection: appdb
      user: svc
)";

// A target in memory: the password each account has, and failures on demand.
class FakeTarget final : public CredentialTarget {
 public:
  absl::Status Change(const RotationTargetPolicy& t, const SecretBytes* current,
                      const SecretBytes& next) override {
    changes++;
    if (fail_change) return absl::UnavailableError("target said no");
    if (slow_change) {
      landing = std::string(next.view());  // lands after the controller gave up waiting
      return absl::DeadlineExceededError("the change command did not finish");
    }
    if (current && passwords[t.user] != current->view())
      return absl::PermissionDeniedError("wrong current password");
    passwords[t.user] = std::string(next.view());
    if (after_change) after_change();
    return absl::OkStatus();
  }
  absl::Status Verify(const RotationTargetPolicy& t, const SecretBytes& value) override {
    if (down) return absl::UnavailableError("target down");
    return passwords[t.user] == value.view() ? absl::OkStatus()
                                              : absl::PermissionDeniedError("refused");
  }
  bool SetsWithoutCurrent(const RotationTargetPolicy& t) const override {
    return t.user != "warden_admin";
  }
  std::map<std::string, std::string> passwords;
  std::string landing;
  int changes = 0;
  bool fail_change = false, down = false, slow_change = false;
  std::function<void()> after_change;  // runs inside Change, once the password is set
};

class CollectingSink final : public AlertSink {
 public:
  void Raise(const nlohmann::json& e) override { alerts.push_back(e); }
  std::vector<nlohmann::json> alerts;
};

class RotationTest : public CoreFixture {
 protected:
  void SetUp() override {
    CoreFixture::SetUp();
    audit_ = OpenAuditLog();
    audit_->SetAlertSink(&sink_);
    ASSERT_TRUE(InitializeVault(*store_, keys_, VaultInit{"pkcs11", 5, 3}).ok());
  }
  void Load(int port, const std::string& extra = "") {
    std::string yaml = std::string(kTestPolicy) + kRotationPolicy + extra;
    yaml.replace(yaml.find("PORT"), 4, std::to_string(port));
    auto policy = ParsePolicy(yaml);
    ASSERT_TRUE(policy.ok()) << policy.status().message();
    policy_ = std::move(*policy);
    vault_ = std::make_unique<Vault>(policy_, *store_, keys_, *audit_, clock_);
    ASSERT_TRUE(vault_->Start().ok());
    Restart(fake_);
  }
  // A new CredentialRotation over the same store: what a controller restart does.
  void Restart(CredentialTarget& target) {
    rotation_ = std::make_unique<CredentialRotation>(policy_, *store_, *vault_, *audit_, clock_);
    rotation_->AddTarget("postgres", target);
  }
  Identity Who(const std::string& user) {
    Identity id;
    id.user = user;
    id.groups = policy_.GroupsOf(user);
    return id;
  }
  void Put(const std::string& path, const std::string& value) {
    ASSERT_TRUE(vault_->Put(Who("root"), path, ToBytes(value)).ok());
  }
  std::string Vaulted(const std::string& path) {
    auto c = vault_->CurrentForController(path);
    return c.ok() ? std::string(c->value.view()) : "";
  }
  RotationRow Row(const std::string& path) {
    auto r = store_->GetRotation(path);
    return r.ok() && *r ? **r : RotationRow{};
  }
  int Alerts(const std::string& event) {
    int n = 0;
    for (const auto& a : sink_.alerts) n += a.value("event", "") == event;
    return n;
  }
  std::string Audit() { return ReadAll(dir_ / "audit.log"); }

  Policy policy_;
  CollectingSink sink_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<Vault> vault_;
  FakeTarget fake_;
  std::unique_ptr<CredentialRotation> rotation_;
};

TEST(PasswordPolicy, PasswordsHaveTheLengthEveryClassAndNoExcludedCharacter) {
  PasswordPolicy p;
  p.length = 16;
  p.exclude = "'\"\\`$0Oo";
  std::set<std::string> seen;
  for (int i = 0; i < 200; i++) {
    SecretBytes pw = GeneratePassword(p);
    const std::string s(pw.view());
    ASSERT_EQ(s.size(), 16u);
    EXPECT_NE(s.find_first_of("abcdefghijklmnopqrstuvwxyz"), std::string::npos) << s;
    EXPECT_NE(s.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), std::string::npos) << s;
    EXPECT_NE(s.find_first_of("0123456789"), std::string::npos) << s;
    EXPECT_NE(s.find_first_of("!#%&()*+,-./:;<=>?@[]^_{|}~"), std::string::npos) << s;
    EXPECT_EQ(s.find_first_of(p.exclude), std::string::npos) << s;
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(PasswordPolicy, ImpossiblePoliciesAreRefusedWithTheReason) {
  for (const auto& [policy, why] : std::vector<std::pair<PasswordPolicy, std::string>>{
           {{8, {"lower"}, ""}, "between 12 and 128"},
           {{16, {"lower", "emoji"}, ""}, "unknown class \"emoji\""},
           {{16, {"digit"}, "0123456789"}, "removes every character of class digit"},
           {{16, {}, ""}, "at least one"}}) {
    const absl::Status st = CheckPasswordPolicy(policy, "p");
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find(why), std::string::npos) << st.message();
  }
}

TEST(RotationPolicyTest, BadTargetsAreRefusedAtLoad) {
  const std::string base = std::string(kTestPolicy) + R"(
databases:
  connections:
    appdb: {admin_user: warden_admin, admin_password: db/appdb/admin}
rotation:
  targets:
)";
  for (const auto& [target, why] : std::vector<std::pair<std::string, std::string>>{
           {"    \"x/y\": {kind: kerberos, connection: appdb}", "supported: postgres, ssh, ldap, ad, linux"},
           {"    \"x/y\": {kind: ldap, url: \"ldaps://dc1\", dn: \"uid=a\", admin: x/z}", ".admin is for kind ad"},
           {"    \"x/y\": {kind: ad, url: \"ldaps://dc1\", dn: \"CN=a\", admin: x/z}",
            ".admin: \"x/z\" is not a rotation target of kind ad"},
           {"    \"x/y\": {kind: ad, url: \"ldaps://dc1\", dn: \"CN=a\", admin: x/z}\n"
            "    \"x/z\": {kind: ad, url: \"ldaps://dc2\", dn: \"CN=b\"}",
            "\"x/z\" is at ldaps://dc2, not at ldaps://dc1"},
           {"    \"x/y\": {kind: ad, url: \"ldaps://dc1\", dn: \"CN=a\", admin: x/z}\n"
            "    \"x/z\": {kind: ad, url: \"ldaps://dc1\", dn: \"CN=b\", admin: x/y}",
            "must change its own password"},
           {"    \"x/y\": {kind: ad, url: \"ldap://dc1\", dn: \"CN=a\"}", "passwords go over TLS only"},
           {"    \"x/y\": {kind: ad, url: \"ldaps://dc1\", dn: \"CN=a\", admin: x/z}\n"
            "    \"x/z\": {kind: ad, url: \"ldaps://DC1\", dn: \"CN=b\", ca_file: /etc/warden/ad-ca.pem}",
            "trusts other CAs (ca_file, start_tls) than this target"},
           {"    \"x/y\": {kind: linux, host: db1}", "kind linux needs host"},
           {"    \"x/y\": {kind: linux, host: db1, user: \"root:0\"}", ".user: a local account name"},
           {"    \"x/y\": {kind: linux, host: db1, user: root, port: 22}", ".port is not for kind linux"},
           {"    \"x/y\": {kind: linux, host: DB1, user: root}\n"
            "    \"x/z\": {kind: linux, host: db1, user: root}",
            "are both the local account root of host db1"},
           {"    \"x/y\": {kind: ldap, url: \"ldap://dc1\", dn: \"uid=a\"}", "passwords go over TLS only"},
           {"    \"x/y\": {kind: ldap, url: \"ldaps://dc1 ldap://dc2\", dn: \"uid=a\"}", "one URL only"},
           {"    \"x/y\": {kind: ldap, url: \"ldaps://dc1\", dn: \"uid=a\", connection: appdb}",
            ".connection is not for kind ldap"},
           {"    \"x/y\": {kind: ssh, host: h, user: u, change_command: c}", "needs host, user, host_key"},
           {"    \"x/y\": {kind: ssh, host: h, user: u, change_command: c, host_key: \"ssh-ed25519 AAAA\"}",
            ".host_key: "},
           {"    \"x/y\": {kind: postgres, connection: nope}", "not in databases.connections"},
           {"    \"x/y\": {kind: postgres, connection: appdb, user: r, period: 1h, jitter: 2h}",
            "jitter must be shorter than period"},
           {"    \"x/y\": {kind: postgres, connection: appdb}", "is rotated at its admin_password"},
           {"    \"x/y\": {kind: postgres, connection: appdb, user: r, colour: red}",
            "unknown key \"colour\""},
           {"    \"/x\": {kind: postgres, connection: appdb, user: r}", "path"},
           {"    \"x/y\": {kind: postgres, connection: appdb, user: r}\n"
            "    \"x/z\": {kind: postgres, connection: appdb, user: r}",
            "are both the PostgreSQL role r at 127.0.0.1:5432"},
           {"    \"x/y\": {kind: ldap, url: \"ldaps://DC1\", dn: \"uid=a, dc=x\"}\n"
            "    \"x/z\": {kind: ldap, url: \"ldaps://dc1\", dn: \"UID=a,dc=x\"}",
            "are both the LDAP account"}}) {
    auto p = ParsePolicy(base + target + "\n");
    ASSERT_FALSE(p.ok()) << target;
    EXPECT_NE(p.status().message().find(why), std::string::npos) << p.status().message();
  }
  auto p = ParsePolicy(base + "    \"x/y\": {kind: postgres, connection: appdb, user: r}\n");
  ASSERT_TRUE(p.ok()) << p.status().message();
  // The connection's admin path is a target too (rotate-root), without a schedule.
  const RotationTargetPolicy* root = p->rotation.TargetFor("db/appdb/admin");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->user, "warden_admin");
  EXPECT_EQ(root->period, 0);
}

TEST(ActiveDirectory, UnicodePwdIsTheQuotedPasswordInUtf16LittleEndian) {
  auto enc = [](std::string_view pw) -> absl::StatusOr<std::string> {
    ASSIGN_OR_RETURN(SecretBytes v, UnicodePwd(SecretBytes(AsBytes(pw))));
    return std::string(v.view());
  };
  EXPECT_EQ(*enc("Ab1!"), std::string("\"\0A\0b\0001\0!\0\"\0", 12));
  // U+00E9 (2 bytes of UTF-8) is one unit; U+1F511 (4 bytes) is a surrogate pair.
  EXPECT_EQ(*enc("\xC3\xA9\xF0\x9F\x94\x91"), std::string("\"\0\xE9\0\x3D\xD8\x11\xDD\"\0", 10));
  for (std::string_view bad : {std::string_view("\xC3"), std::string_view("\xC0\xAF"),
                               std::string_view("\xED\xA0\x80"), std::string_view("\xFF")}) {
    EXPECT_EQ(enc(bad).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(RotationTest, ANewPasswordIsSetProvenAndVaulted) {
  Load(5432);
  fake_.passwords["reporting"] = "initial-password";
  Put("db/appdb/reporting", "initial-password");
  auto v = rotation_->Rotate(Who("erin"), "db/appdb/reporting");  // erin: the dbas' rotate
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(*v, 2);
  const std::string now = Vaulted("db/appdb/reporting");
  EXPECT_EQ(now, fake_.passwords["reporting"]);
  EXPECT_EQ(now.size(), 24u);
  EXPECT_EQ(now.find_first_of("'\"\\"), std::string::npos);
  EXPECT_EQ(Row("db/appdb/reporting").pending_since, 0);
  EXPECT_NE(Audit().find("\"event\":\"vault.rotated\""), std::string::npos);
  EXPECT_EQ(Audit().find(now), std::string::npos);  // never the value
}

TEST_F(RotationTest, OnlyAdminsAndTheRotateGroupsMayRotate) {
  Load(5432);
  fake_.passwords["reporting"] = "initial-password";
  Put("db/appdb/reporting", "initial-password");
  auto v = rotation_->Rotate(Who("alice"), "db/appdb/reporting");  // may read, not rotate
  EXPECT_TRUE(absl::IsPermissionDenied(v.status())) << v.status().message();
  EXPECT_EQ(fake_.changes, 0);
  EXPECT_TRUE(absl::IsNotFound(rotation_->Rotate(Who("root"), "db/nothing").status()));
  EXPECT_TRUE(absl::IsPermissionDenied(rotation_->Reset(Who("erin"), "db/appdb/reporting")));
}

TEST_F(RotationTest, ACrashBetweenTheChangeAndTheCommitIsResolvedAtStart) {
  Load(5432);
  fake_.passwords["reporting"] = "initial-password";
  Put("db/appdb/reporting", "initial-password");
  // The target takes the new password, then the controller loses it (as a crash would) before
  // it can prove and commit it.
  fake_.after_change = [&] { fake_.down = true; };
  auto v = rotation_->Rotate(Who("root"), "db/appdb/reporting");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("kept pending"), std::string::npos) << v.status().message();
  EXPECT_NE(Row("db/appdb/reporting").pending_since, 0);
  EXPECT_EQ(Vaulted("db/appdb/reporting"), "initial-password");  // not yet the newest
  EXPECT_EQ(Alerts("vault.rotate_failed"), 1);

  // Start again: the pending value is the one that logs in, so it is committed.
  fake_.after_change = nullptr;
  fake_.down = false;
  Restart(fake_);
  auto resolved = rotation_->Recover();
  ASSERT_TRUE(resolved.ok()) << resolved.status().message();
  EXPECT_EQ(*resolved, 1);
  EXPECT_EQ(Vaulted("db/appdb/reporting"), fake_.passwords["reporting"]);
  EXPECT_NE(fake_.passwords["reporting"], "initial-password");
  EXPECT_EQ(Row("db/appdb/reporting").pending_since, 0);
}

TEST_F(RotationTest, ACrashBeforeTheChangeKeepsTheVaultedPassword) {
  Load(5432);
  fake_.passwords["reporting"] = "initial-password";
  Put("db/appdb/reporting", "initial-password");
  // The pending value was written, and the target was never changed.
  fake_.fail_change = true;
  fake_.down = false;
  fake_.after_change = nullptr;
  auto failing = rotation_->Rotate(Who("root"), "db/appdb/reporting");
  ASSERT_FALSE(failing.ok());
  // The failure settles it at once: the vaulted value still logs in, the pending one is dropped.
  EXPECT_EQ(Row("db/appdb/reporting").pending_since, 0);
  EXPECT_EQ(Vaulted("db/appdb/reporting"), "initial-password");
  EXPECT_EQ(fake_.passwords["reporting"], "initial-password");
  EXPECT_EQ(Row("db/appdb/reporting").failures, 1);
}

TEST_F(RotationTest, AChangeOfUnknownOutcomeKeepsTheNewPasswordPending) {
  Load(5432);
  fake_.passwords["reporting"] = "initial-password";
  Put("db/appdb/reporting", "initial-password");
  fake_.slow_change = true;
  auto v = rotation_->Rotate(Who("root"), "db/appdb/reporting");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("kept pending"), std::string::npos) << v.status().message();
  EXPECT_NE(Row("db/appdb/reporting").pending_since, 0);  // not dropped: it may still land
  EXPECT_EQ(Vaulted("db/appdb/reporting"), "initial-password");
  // The device finishes its commit; the next pass after the backoff finds and stores it.
  fake_.passwords["reporting"] = fake_.landing;
  clock_.Advance(31);
  ASSERT_TRUE(rotation_->RunDue().ok());
  EXPECT_EQ(Vaulted("db/appdb/reporting"), fake_.landing);
  EXPECT_EQ(Row("db/appdb/reporting").pending_since, 0);
}

TEST_F(RotationTest, AFailedRotationIsAlertedAndRetriedWithBackoff) {
  Load(5432);
  fake_.passwords["reporting"] = "initial-password";
  Put("db/appdb/reporting", "initial-password");
  clock_.Advance(3600);  // the first scheduled rotation is due (one period after take-over)
  ASSERT_TRUE(rotation_->RunDue().ok());  // creates the row, a period from now
  clock_.Advance(3600);
  fake_.fail_change = true;
  ASSERT_TRUE(rotation_->RunDue().ok());
  EXPECT_EQ(fake_.changes, 1);
  EXPECT_EQ(Alerts("vault.rotate_failed"), 1);
  RotationRow row = Row("db/appdb/reporting");
  EXPECT_EQ(row.failures, 1);
  EXPECT_EQ(row.next_attempt, clock_.Now() + 30);
  ASSERT_TRUE(rotation_->RunDue().ok());
  EXPECT_EQ(fake_.changes, 1);  // not before the backoff
  fake_.fail_change = false;
  clock_.Advance(31);
  ASSERT_TRUE(rotation_->RunDue().ok());
  EXPECT_EQ(fake_.changes, 2);
  EXPECT_EQ(Vaulted("db/appdb/reporting"), fake_.passwords["reporting"]);
  EXPECT_EQ(Row("db/appdb/reporting").failures, 0);
}

TEST_F(RotationTest, ScheduledRotationsComeWithJitterNeverInLockstep) {
  Load(5432);
  std::set<int64_t> due;
  for (int i = 0; i < 20; i++) {
    RotationRow fresh;
    fresh.path = "db/appdb/reporting";
    ASSERT_TRUE(store_->PutRotation(fresh).ok());
    fake_.passwords["reporting"] = "initial-password";
    Put("db/appdb/reporting", "initial-password");
    ASSERT_TRUE(rotation_->Rotate(Who("root"), "db/appdb/reporting").ok());
    const int64_t next = Row("db/appdb/reporting").next_rotation - clock_.Now();
    EXPECT_GE(next, 3600 - 600);
    EXPECT_LE(next, 3600);
    due.insert(next);
  }
  EXPECT_GT(due.size(), 10u);
}

TEST_F(RotationTest, ACheckOutDuringARotationIsRefusedAndTheNextOneGetsTheNewValue) {
  Load(5432);
  fake_.passwords["svc"] = "initial-password";
  Put("app/svc", "initial-password");
  absl::Status during;
  fake_.after_change = [&] { during = vault_->Read(Who("alice"), "app/svc", 0).status(); };
  auto v = rotation_->Rotate(Who("root"), "app/svc");
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(during.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(during.message().find("app/svc is being rotated"), std::string::npos) << during.message();
  fake_.after_change = nullptr;
  auto read = vault_->Read(Who("alice"), "app/svc", 0);
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read->value.view(), fake_.passwords["svc"]) << "the holder has the password that works";
}

TEST_F(RotationTest, NoCheckOutWhileANewValueIsPendingNorOfAVersionRotatedAwayMeanwhile) {
  Load(5432);
  fake_.passwords["svc"] = "initial-password";
  Put("app/svc", "initial-password");
  fake_.slow_change = true;
  ASSERT_FALSE(rotation_->Rotate(Who("root"), "app/svc").ok());
  ASSERT_NE(Row("app/svc").pending_since, 0);
  auto during = vault_->Read(Who("alice"), "app/svc", 0);
  EXPECT_EQ(during.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(during.status().message().find("is being rotated"), std::string::npos);
  // A controller restart keeps it so until the pending value is resolved.
  Restart(fake_);
  fake_.slow_change = false;
  EXPECT_EQ(vault_->Read(Who("alice"), "app/svc", 0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  fake_.passwords["svc"] = fake_.landing;  // the change lands
  ASSERT_TRUE(rotation_->Recover().ok());
  ASSERT_EQ(Row("app/svc").pending_since, 0);
  auto read = vault_->Read(Who("alice"), "app/svc", 0);
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read->value.view(), fake_.landing);
  ASSERT_TRUE(vault_->CheckIn(Who("alice"), "app/svc").ok());
  // Version 2 is read, then rotated away before its check-out is taken: refused, not handed out.
  fake_.after_change = nullptr;
  ASSERT_TRUE(rotation_->Rotate(Who("root"), "app/svc").ok());
  auto old = vault_->Read(Who("alice"), "app/svc", 2);
  EXPECT_EQ(old.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(old.status().message().find("has a newer version"), std::string::npos)
      << old.status().message();
}

TEST_F(RotationTest, AVersionCheckedInAfterUseIsRotatedButNotWhileCheckedOut) {
  Load(5432);
  fake_.passwords["svc"] = "initial-password";
  Put("app/svc", "initial-password");
  auto read = vault_->Read(Who("alice"), "app/svc", 0);
  ASSERT_TRUE(read.ok()) << read.status().message();
  ASSERT_TRUE(rotation_->RunDue().ok());
  EXPECT_EQ(fake_.changes, 0);
  auto forced = rotation_->Rotate(Who("root"), "app/svc");
  EXPECT_NE(forced.status().message().find("checked out by alice"), std::string::npos);
  ASSERT_TRUE(vault_->CheckIn(Who("alice"), "app/svc").ok());
  // The rotation target's use is not an alert for a person: the next pass rotates it.
  EXPECT_EQ(Alerts("vault.rotate_needed"), 0);
  ASSERT_TRUE(rotation_->RunDue().ok());
  EXPECT_EQ(fake_.changes, 1);
  EXPECT_NE(Vaulted("app/svc"), "initial-password");
  EXPECT_EQ(Vaulted("app/svc"), fake_.passwords["svc"]);
  ASSERT_TRUE(rotation_->RunDue().ok());
  EXPECT_EQ(fake_.changes, 1);  // the new version is unused
  EXPECT_NE(Audit().find("\"why\":\"after use\""), std::string::npos);
}

TEST_F(RotationTest, APasswordChangedOutOfBandIsABreakUntilAnAdminResetsIt) {
  Load(5432);
  fake_.passwords["reporting"] = "initial-password";
  Put("db/appdb/reporting", "initial-password");
  fake_.passwords["reporting"] = "set-by-an-intruder";
  auto results = rotation_->Reconcile(Who("erin"), "db/appdb/reporting");
  ASSERT_TRUE(results.ok()) << results.status().message();
  ASSERT_EQ(results->size(), 1u);
  EXPECT_EQ((*results)[0].outcome, "break");
  EXPECT_EQ(Row("db/appdb/reporting").status, "drifted");
  ASSERT_EQ(Alerts("vault.reconcile_break"), 1);
  EXPECT_EQ(sink_.alerts.back().value("severity", ""), "critical");
  EXPECT_EQ(sink_.alerts.back().value("path", ""), "db/appdb/reporting");

  // Nothing papers over it: no rotation, on demand or scheduled, and no second page per pass.
  auto rotate = rotation_->Rotate(Who("root"), "db/appdb/reporting");
  EXPECT_NE(rotate.status().message().find("drifted"), std::string::npos);
  clock_.Advance(86400);
  ASSERT_TRUE(rotation_->RunDue().ok());
  EXPECT_EQ(fake_.changes, 0);
  EXPECT_EQ(Alerts("vault.reconcile_break"), 1);
  results = rotation_->Reconcile(Who("root"), "");
  ASSERT_TRUE(results.ok());
  for (const auto& r : *results) {
    if (r.path == "db/appdb/reporting") {
      EXPECT_EQ(r.outcome, "drifted");
    }
  }

  // After investigation an admin resets it: Warden sets a password it knows (the admin can).
  ASSERT_TRUE(rotation_->Reset(Who("root"), "db/appdb/reporting").ok());
  EXPECT_EQ(Row("db/appdb/reporting").status, "ok");
  EXPECT_EQ(Vaulted("db/appdb/reporting"), fake_.passwords["reporting"]);
  EXPECT_NE(Audit().find("\"event\":\"vault.reset_done\""), std::string::npos);
}

TEST_F(RotationTest, AChangedPasswordIsNeverQuietlyReplacedByARotation) {
  Load(5432);
  fake_.passwords["reporting"] = "initial-password";
  Put("db/appdb/reporting", "initial-password");
  fake_.passwords["reporting"] = "set-by-an-intruder";
  auto v = rotation_->Rotate(Who("root"), "db/appdb/reporting");
  EXPECT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("reconcile break"), std::string::npos) << v.status().message();
  EXPECT_EQ(fake_.changes, 0);
  EXPECT_EQ(fake_.passwords["reporting"], "set-by-an-intruder");
  EXPECT_EQ(Alerts("vault.reconcile_break"), 1);
}

TEST_F(RotationTest, TheRootCannotBeResetWithoutItsPasswordAndSaysWhatToDo) {
  Load(5432);
  fake_.passwords["warden_admin"] = "adminpw";
  Put("db/appdb/admin", "adminpw");
  fake_.passwords["warden_admin"] = "changed";
  ASSERT_TRUE(rotation_->Reconcile(Who("root"), "db/appdb/admin").ok());
  absl::Status st = rotation_->Reset(Who("root"), "db/appdb/admin");
  EXPECT_NE(st.message().find("put the password the target has now"), std::string::npos)
      << st.message();
  EXPECT_EQ(Row("db/appdb/admin").status, "drifted");
  Put("db/appdb/admin", "changed");
  ASSERT_TRUE(rotation_->Reset(Who("root"), "db/appdb/admin").ok());
  EXPECT_EQ(Row("db/appdb/admin").status, "ok");
}

TEST_F(RotationTest, AnUnreachableTargetIsAlertedButIsNotABreak) {
  Load(5432);
  fake_.passwords["reporting"] = "initial-password";
  Put("db/appdb/reporting", "initial-password");
  fake_.down = true;
  auto results = rotation_->Reconcile(Who("root"), "db/appdb/reporting");
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].outcome, "unreachable");
  EXPECT_EQ(Row("db/appdb/reporting").status, "ok");
  EXPECT_EQ(Alerts("vault.reconcile_failed"), 1);
  EXPECT_EQ(Alerts("vault.reconcile_break"), 0);
}

// --- a real PostgreSQL ---

class RotationPostgresTest : public RotationTest {
 protected:
  void SetUp() override {
    RotationTest::SetUp();
    absl::Status st = pg_.Create();
    ASSERT_TRUE(st.ok()) << st.message();
    pg_.Sql("CREATE ROLE reporting LOGIN PASSWORD 'initial-password'");
    ASSERT_TRUE(pg_.LogsIn("reporting", "initial-password"));
    Load(pg_.port());
    Put("db/appdb/admin", "adminpw");
    Put("db/appdb/reporting", "initial-password");
  }
  Postgres pg_;
  PostgresDriver driver_;
};

// The target over a driver whose logins fail as a crash would leave them: after the password
// was set, before the new one is proven.
class CrashingDriver final : public DatabaseDriver {
 public:
  explicit CrashingDriver(DatabaseDriver& real) : real_(real) {}
  absl::Status Execute(const DbConnectionPolicy& c, const SecretBytes& a,
                       const std::vector<std::string>& s) override {
    return real_.Execute(c, a, s);
  }
  absl::StatusOr<std::vector<std::string>> ListRoles(const DbConnectionPolicy& c,
                                                     const SecretBytes& a,
                                                     std::string_view p) override {
    return real_.ListRoles(c, a, p);
  }
  absl::Status SetPassword(const DbConnectionPolicy& c, const SecretBytes& a, std::string_view r,
                           const SecretBytes& p) override {
    RETURN_IF_ERROR(real_.SetPassword(c, a, r, p));
    crashed_ = true;
    return absl::OkStatus();
  }
  absl::Status Authenticate(const DbConnectionPolicy& c, std::string_view u,
                            const SecretBytes& p) override {
    if (crashed_) return absl::UnavailableError("the controller is gone");
    return real_.Authenticate(c, u, p);
  }

 private:
  DatabaseDriver& real_;
  bool crashed_ = false;
};

TEST_F(RotationPostgresTest, ARoleRotatesTheOldPasswordIsRefusedAndTheNewOneLogsIn) {
  PostgresRoleTarget roles(policy_, *vault_, driver_);
  Restart(roles);
  auto v = rotation_->Rotate(Who("root"), "db/appdb/reporting");
  ASSERT_TRUE(v.ok()) << v.status().message();
  const std::string now = Vaulted("db/appdb/reporting");
  EXPECT_FALSE(pg_.LogsIn("reporting", "initial-password"));
  EXPECT_TRUE(pg_.LogsIn("reporting", now));
  // Stored as a SCRAM verifier computed by Warden: the server never saw the password.
  EXPECT_EQ(pg_.Sql("SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname='reporting'"),
            "SCRAM-SHA-256$");
  auto ok = rotation_->Reconcile(Who("root"), "db/appdb/reporting");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)[0].outcome, "ok");
}

TEST_F(RotationPostgresTest, RotateRootChangesWardensOwnAdminWhichGoesOnManagingRoles) {
  PostgresRoleTarget roles(policy_, *vault_, driver_);
  Restart(roles);
  auto v = rotation_->Rotate(Who("root"), "db/appdb/admin");
  ASSERT_TRUE(v.ok()) << v.status().message();
  const std::string admin = Vaulted("db/appdb/admin");
  EXPECT_FALSE(pg_.LogsIn("warden_admin", "adminpw"));
  EXPECT_TRUE(pg_.LogsIn("warden_admin", admin));
  // A new driver (no kept connection) logs in as the admin with the rotated password.
  PostgresDriver fresh;
  PostgresRoleTarget after(policy_, *vault_, fresh);
  Restart(after);
  ASSERT_TRUE(rotation_->Rotate(Who("root"), "db/appdb/reporting").ok());
  EXPECT_TRUE(pg_.LogsIn("reporting", Vaulted("db/appdb/reporting")));
}

TEST_F(RotationPostgresTest, APasswordChangedBehindWardensBackIsAReconcileBreak) {
  PostgresRoleTarget roles(policy_, *vault_, driver_);
  Restart(roles);
  pg_.Sql("ALTER ROLE reporting PASSWORD 'intruder'");
  auto r = rotation_->Reconcile(Who("root"), "db/");
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::map<std::string, std::string> outcome;
  for (const auto& x : *r) outcome[x.path] = x.outcome;
  EXPECT_EQ(outcome["db/appdb/reporting"], "break");
  EXPECT_EQ(outcome["db/appdb/admin"], "ok");
  EXPECT_EQ(Alerts("vault.reconcile_break"), 1);
  // Reset after investigation: the admin sets a password Warden knows again.
  ASSERT_TRUE(rotation_->Reset(Who("root"), "db/appdb/reporting").ok());
  EXPECT_TRUE(pg_.LogsIn("reporting", Vaulted("db/appdb/reporting")));
  EXPECT_FALSE(pg_.LogsIn("reporting", "intruder"));
}

TEST_F(RotationPostgresTest, AControllerKilledBetweenTheChangeAndTheCommitRecoversAtStart) {
  CrashingDriver crashing(driver_);
  PostgresRoleTarget before(policy_, *vault_, crashing);
  Restart(before);
  auto v = rotation_->Rotate(Who("root"), "db/appdb/reporting");
  ASSERT_FALSE(v.ok());
  // The database has a password the vault does not hold yet: the pending one.
  EXPECT_FALSE(pg_.LogsIn("reporting", "initial-password"));
  EXPECT_EQ(Vaulted("db/appdb/reporting"), "initial-password");
  PostgresRoleTarget after(policy_, *vault_, driver_);
  Restart(after);
  auto resolved = rotation_->Recover();
  ASSERT_TRUE(resolved.ok()) << resolved.status().message();
  EXPECT_EQ(*resolved, 1);
  EXPECT_TRUE(pg_.LogsIn("reporting", Vaulted("db/appdb/reporting")));
  EXPECT_NE(Vaulted("db/appdb/reporting"), "initial-password");
}

TEST_F(RotationPostgresTest, ALoginThatNeverAskedForThePasswordProvesNothing) {
  // The socket directory: pg_hba trusts every login there.
  DbConnectionPolicy trusted = policy_.databases.connections.at("appdb");
  trusted.host = pg_.socket_dir();
  const absl::Status st = driver_.Authenticate(trusted, "reporting", SecretBytes(ToBytes("wrong")));
  EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st.message();
  EXPECT_NE(st.message().find("without checking a password"), std::string::npos);
}

// --- alerts ---

TEST(AlertForwarderTest, AlertsReachSyslogAsRfc5424WithTheirSeverityAndNeverThrowOnBadBytes) {
  TempDir dir;
  const std::string sock = dir / "log";
  const int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  AlertConfig config;
  config.syslog = true;
  config.syslog_socket = sock;
  {
    AlertForwarder alerts(config);
    // A server's message in Latin-1: not UTF-8.
    alerts.Raise({{"event", "vault.reconcile_break"}, {"severity", "critical"},
                  {"detail", std::string("mot de passe \xe9" "chou\xe9")}, {"seq", 7}});
    alerts.Raise({{"event", "vault.rotate_failed"}, {"severity", "warning"}, {"seq", 8}});
  }
  char buf[4096];
  const ssize_t n1 = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  ASSERT_GT(n1, 0);
  const std::string first(buf, static_cast<size_t>(n1));
  const ssize_t n2 = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  ASSERT_GT(n2, 0);
  const std::string second(buf, static_cast<size_t>(n2));
  close(fd);
  EXPECT_EQ(first.rfind("<82>1 ", 0), 0u) << first;  // authpriv.crit
  EXPECT_NE(first.find(" warden-controller "), std::string::npos);
  EXPECT_NE(first.find(" vault.reconcile_break - {"), std::string::npos) << first;
  EXPECT_NE(first.find("\xef\xbf\xbd"), std::string::npos);  // replaced, not thrown on
  EXPECT_EQ(second.rfind("<84>1 ", 0), 0u) << second;  // authpriv.warning
}

}  // namespace
}  // namespace warden::testing
