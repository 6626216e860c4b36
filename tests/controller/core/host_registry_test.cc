#include "controller/core/host_registry.h"

#include <sqlite3.h>

#include "common/crypto.h"
#include "common/strings.h"
#include "controller/keys/x509_issuer.h"
#include "tests/controller/fixture.h"

namespace warden {
namespace {

class Hosts : public testing::CoreFixture {
 protected:
  void SetUp() override {
    CoreFixture::SetUp();
    X509Ptr ca = ClusterCa();
    ASSERT_NE(ca, nullptr);
    ca_pem_ = *CertificateToPem(ca.get());
    hosts_ = std::make_unique<HostRegistry>(*policy_, *store_, *store_, keys_, *ca_, clock_,
                                            "cluster", *ReadCertificatePem(ca_pem_));
    ASSERT_EQ(testing::RunCommand("ssh-keygen -q -t ed25519 -N '' -f " + dir_ / "host_key").exit_code, 0);
    host_key_ = testing::ReadAll(dir_ / "host_key.pub");
    csr_ = *CertificateRequestPem(GenerateP256Key()->get());
  }
  absl::StatusOr<Enrollment> EnrollWith(const std::string& token) {
    return hosts_->Enroll(token, "db1.example.com", csr_, host_key_);
  }
  // The state of a tier-0 prod host enrolled for the purpose, holding one approved grant.
  absl::StatusOr<HostState> StateWithOneGrant() {
    auto t = hosts_->CreateJoinToken(Who("root"), 0, {{"env", "prod"}}, 0, {"db1.example.com"});
    if (!t.ok()) return t.status();
    ASSIGN_OR_RETURN(Enrollment e, EnrollWith(t->token));
    ApprovedGrant();
    return hosts_->State(e.host_id);
  }
  std::string ca_pem_, host_key_, csr_;
  std::unique_ptr<HostRegistry> hosts_;
};

TEST_F(Hosts, EnrollmentIssuesAnSshHostCertificateAndAnX509Identity) {
  auto t = hosts_->CreateJoinToken(Who("root"), 1, {{"env", "prod"}, {"role", "db"}}, 0,
                                   {"db1.example.com"});
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->expires, clock_.Now() + kDefaultJoinTokenTtl);
  auto e = EnrollWith(t->token);
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->tier, 1);
  EXPECT_EQ(e->labels.at("env"), "prod");
  testing::WriteAll(dir_ / "host_key-cert.pub", e->ssh_host_certificate + "\n");
  auto r = testing::RunCommand("ssh-keygen -L -f " + dir_ / "host_key-cert.pub");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("host certificate"), std::string::npos);
  EXPECT_NE(r.output.find("db1.example.com"), std::string::npos);
  EXPECT_NE(r.output.find("Key ID: \"host:" + e->host_id + "\""), std::string::npos);
  auto cert = ParseCertificateLine(e->ssh_host_certificate);
  // Signed by the host CA of the host's tier (1), not by another tier's.
  EXPECT_EQ(cert->signature_key, (*ca_->TrustedKeys("host", 1))[0].public_key);
  for (int tier : {0, 2}) {
    EXPECT_NE(cert->signature_key, (*ca_->TrustedKeys("host", tier))[0].public_key);
  }
  // The certificates name the enrolled hostname and nothing else.
  EXPECT_EQ(cert->principals, std::vector<std::string>{"db1.example.com"});
  testing::WriteAll(dir_ / "ca.pem", ca_pem_);
  testing::WriteAll(dir_ / "host.pem", e->certificate_pem);
  auto v = testing::RunCommand("openssl verify -attime " + std::to_string(clock_.Now()) +
                               " -CAfile " + dir_ / "ca.pem" + " " + dir_ / "host.pem");
  EXPECT_EQ(v.exit_code, 0) << v.output;
}

TEST_F(Hosts, JoinTokensAreSingleUse) {
  auto t = hosts_->CreateJoinToken(Who("root"), 0, {}, 600, {"db1.example.com"});
  ASSERT_TRUE(EnrollWith(t->token).ok());
  auto again = EnrollWith(t->token);
  ASSERT_EQ(again.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(again.status().message()).find("single-use"), std::string::npos);
}

// Fleet enrollment: a token for N hosts named by a pattern enrolls N and refuses the next; a
// pattern's '*' never spans a '.', so web-*.example.com cannot enroll a name in another domain.
TEST_F(Hosts, AFleetTokenEnrollsItsNumberOfHostsMatchingItsPattern) {
  auto t = hosts_->CreateJoinToken(Who("root"), 1, {}, 600, {"web-*.example.com"}, kHostKind, 3);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->uses, 3);
  for (const char* bad : {"web-.example.com", "web-1.evil.com", "web-1.x.example.com", "xweb-1.example.com",
                          "web-1.example.com.evil.com"}) {
    auto e = hosts_->Enroll(t->token, bad, csr_, host_key_);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kPermissionDenied) << bad;
  }
  for (const char* good : {"web-1.example.com", "web-2.example.com", "web-a-b.example.com"})
    ASSERT_TRUE(hosts_->Enroll(t->token, good, csr_, host_key_).ok()) << good;
  auto fourth = hosts_->Enroll(t->token, "web-4.example.com", csr_, host_key_);
  ASSERT_EQ(fourth.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(fourth.status().message()).find("used for all 3 hosts"), std::string::npos);
  EXPECT_EQ(hosts_->CreateJoinToken(Who("root"), 1, {}, 600, {"web-*"}, kHostKind, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(hosts_->CreateJoinToken(Who("root"), 1, {}, 600, {"web-*"}, kHostKind, kMaxJoinTokenUses + 1)
                .status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(hosts_->CreateJoinToken(Who("root"), 1, {}, 600, {"*.*"}).status().code(), absl::StatusCode::kOk);
  EXPECT_EQ(hosts_->CreateJoinToken(Who("root"), 1, {}, 600, {"Web-*"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A reimaged machine enrolled again under its name replaces its old identity: the old client
// certificate no longer works, and the host is listed once.
TEST_F(Hosts, EnrollingAgainReplacesTheOldIdentity) {
  auto t = hosts_->CreateJoinToken(Who("root"), 0, {}, 600, {"db1.example.com"}, kHostKind, 2);
  auto old_host = EnrollWith(t->token);
  ASSERT_TRUE(old_host.ok());
  ASSERT_TRUE(hosts_->IdentityFromCertificate(old_host->certificate_pem).ok());
  auto new_host = EnrollWith(t->token);
  ASSERT_TRUE(new_host.ok());
  EXPECT_EQ(new_host->replaced, 1);
  auto refused = hosts_->IdentityFromCertificate(old_host->certificate_pem);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(refused.status().message(),
            StrCat("host ", old_host->host_id, " (db1.example.com) was enrolled again as ",
                   new_host->host_id, ": this identity no longer works"));
  EXPECT_EQ(hosts_->Renew(old_host->host_id, csr_).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(hosts_->IdentityFromCertificate(new_host->certificate_pem).ok());
  auto listed = store_->ListHosts();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, new_host->host_id);
}

TEST_F(Hosts, ExpiredAndUnknownTokensAreRefusedWithAReason) {
  auto t = hosts_->CreateJoinToken(Who("root"), 2, {}, 600, {"db1.example.com"});
  clock_.Advance(601);
  auto expired = EnrollWith(t->token);
  ASSERT_EQ(expired.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(expired.status().message()).find("wardenctl host token create --tier 2"),
            std::string::npos);
  EXPECT_EQ(EnrollWith("wjt_notatoken").status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(Hosts, OnlyAdminsCreateTokensAndInputIsChecked) {
  EXPECT_EQ(hosts_->CreateJoinToken(Who("alice"), 0, {}, 0, {"db1.example.com"}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(hosts_->CreateJoinToken(Who("root"), 3, {}, 0, {"db1.example.com"}).ok());
  EXPECT_FALSE(hosts_->CreateJoinToken(Who("root"), 0, {}, 30 * 86400, {"db1.example.com"}).ok());
  EXPECT_FALSE(ParseLabels("env=Prod").ok());
  EXPECT_FALSE(ParseLabels("novalue").ok());
  EXPECT_EQ(ParseLabels("a=1,b=x.y")->size(), 2u);
  auto t = hosts_->CreateJoinToken(Who("root"), 0, {}, 0, {"db1.example.com"});
  EXPECT_FALSE(hosts_->Enroll(t->token, "Bad Host", csr_, host_key_).ok());
  EXPECT_FALSE(hosts_->Enroll(t->token, "db1", "not a csr", host_key_).ok());
  EXPECT_FALSE(hosts_->Enroll(t->token, "db1", csr_, "ssh-ed25519 AAAA").ok());
  // None of the refused attempts used the token up.
  EXPECT_TRUE(EnrollWith(t->token).ok());
}

TEST_F(Hosts, StateHoldsLiveGrantsOfTheRolesThatSelectTheHost) {
  auto enroll = [&](int tier, const std::string& env) {
    const std::string name = StrCat("db-", env, tier, ".example.com");
    auto t = hosts_->CreateJoinToken(Who("root"), tier, {{"env", env}}, 0, {name});
    auto e = hosts_->Enroll(t->token, name, csr_, host_key_);
    EXPECT_TRUE(e.ok());
    return e->host_id;
  };
  const std::string prod = enroll(0, "prod"), dev = enroll(0, "dev"), tier1 = enroll(1, "prod");
  const int64_t rev0 = hosts_->State(prod)->revision;
  const GrantRow g1 = ApprovedGrant(), g2 = ApprovedGrant(3600);

  auto st = hosts_->State(prod);
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_GT(st->revision, rev0);
  ASSERT_EQ(st->accounts.size(), 2u);
  EXPECT_EQ(st->trusted_user_ca_keys.size(), 1u);
  std::set<uint32_t> ids;
  for (const auto& a : st->accounts) {
    EXPECT_GE(a.grant.uid, 1879048192u);
    ids.insert(a.grant.uid);
    EXPECT_EQ(a.home, "/home/" + a.grant.login);
    EXPECT_EQ(a.sudo_rule, "ALL=(ALL) NOPASSWD: ALL");
    EXPECT_EQ(a.groups, std::vector<std::string>{"wheel-ops"});
    EXPECT_EQ(a.on_redaction_limit, "alert") << "the role's recording default";
  }
  ASSERT_EQ(st->groups.size(), 1u);
  EXPECT_EQ(st->groups[0].name, "wheel-ops");
  EXPECT_EQ(st->groups[0].members.size(), 2u);
  EXPECT_EQ(st->groups[0].expires, g2.end);
  ids.insert(st->groups[0].gid);
  EXPECT_EQ(ids.size(), 3u) << "uids and group ids never collide";

  // Label and tier selection.
  EXPECT_TRUE(hosts_->State(dev)->accounts.empty());
  EXPECT_TRUE(hosts_->State(tier1)->accounts.empty());

  // Revocation leaves the state and moves the revision; ids are never handed out again.
  ASSERT_TRUE(access_->Revoke(Who("bob"), g1.id).ok());
  st = hosts_->State(prod);
  ASSERT_EQ(st->accounts.size(), 1u);
  EXPECT_EQ(st->accounts[0].grant.login, g2.login);
  const GrantRow g3 = ApprovedGrant(60);
  EXPECT_GT(g3.uid, std::max(g1.uid, g2.uid));
  EXPECT_GT(g3.uid, st->groups[0].gid);

  // Ended leases drop out without any further change.
  clock_.Advance(1801);
  st = hosts_->State(prod);
  ASSERT_EQ(st->accounts.size(), 1u);
  EXPECT_EQ(st->accounts[0].grant.login, g2.login);
}

TEST_F(Hosts, AnAccountsPrimaryGroupIsItsOwnNumberedAsItsUid) {
  auto st = StateWithOneGrant();
  ASSERT_TRUE(st.ok()) << st.status().message();
  ASSERT_EQ(st->accounts.size(), 1u);
  EXPECT_EQ(st->accounts[0].gid, st->accounts[0].grant.uid);
  ASSERT_EQ(st->groups.size(), 1u);
  EXPECT_NE(st->groups[0].gid, st->accounts[0].gid) << "not the role's shared group";
}

TEST_F(Hosts, AnAccountCarriesNoModerationSettingsItsRoleDoesNotAskFor) {
  auto st = StateWithOneGrant();
  ASSERT_TRUE(st.ok()) << st.status().message();
  ASSERT_EQ(st->accounts.size(), 1u);
  EXPECT_EQ(st->accounts[0].moderators_required, 0);
  EXPECT_EQ(st->accounts[0].moderator_on_leave, "");
  EXPECT_EQ(st->accounts[0].moderator_wait, 0);
}

TEST_F(Hosts, HostCertificatesIdentifyEnrolledHostsOnly) {
  auto t = hosts_->CreateJoinToken(Who("root"), 0, {}, 0, {"db1.example.com"});
  auto e = EnrollWith(t->token);
  ASSERT_TRUE(e.ok());
  auto id = hosts_->IdentityFromCertificate(e->certificate_pem);
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(id->host_id, e->host_id);
  EXPECT_EQ(id->user, "host/" + e->host_id);
  OperatorAuth auth(policy_, *store_, keys_, clock_, "cluster", *ReadCertificatePem(ca_pem_));
  auto login = auth.IdentityFromCertificate(e->certificate_pem);
  EXPECT_EQ(login.status().code(), absl::StatusCode::kPermissionDenied);
  // Renewal keeps the identity and restarts the lifetime.
  clock_.Advance(86400);
  auto renewed = hosts_->Renew(e->host_id, csr_);
  ASSERT_TRUE(renewed.ok()) << renewed.status().message();
  EXPECT_EQ(hosts_->IdentityFromCertificate(renewed->certificate_pem)->host_id, e->host_id);
  EXPECT_EQ(renewed->expires, e->expires + 86400);
  EXPECT_EQ(hosts_->State("h-unknown").status().code(), absl::StatusCode::kPermissionDenied);
}

// A gateway's token enrolls a gateway and nothing else, and a host's token no gateway: a host
// (which any of its local admins controls) never holds the identity that opens brokered sessions,
// and a gateway is never sent a host's accounts.
TEST_F(Hosts, AJoinTokenEnrollsOnlyItsKind) {
  auto gw = hosts_->CreateJoinToken(Who("root"), 0, {}, 0, {"gw1"}, kGatewayKind);
  ASSERT_TRUE(gw.ok()) << gw.status().message();
  auto as_host = hosts_->Enroll(gw->token, "gw1", csr_, host_key_);
  ASSERT_EQ(as_host.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(as_host.status().message().find("this join token enrolls a gateway, not a host"),
            std::string::npos) << as_host.status().message();
  auto e = hosts_->Enroll(gw->token, "gw1", csr_, host_key_, kGatewayKind);
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->kind, "gateway");
  auto id = hosts_->IdentityFromCertificate(e->certificate_pem);
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(id->host_kind, "gateway");
  EXPECT_EQ(id->user, "gateway/" + e->host_id);
  auto state = hosts_->State(e->host_id);
  ASSERT_EQ(state.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(state.status().message().find("enrolled as a gateway"), std::string::npos);

  auto host = hosts_->CreateJoinToken(Who("root"), 0, {}, 0, {"db1.example.com"});
  auto as_gateway = hosts_->Enroll(host->token, "db1.example.com", csr_, host_key_, kGatewayKind);
  ASSERT_EQ(as_gateway.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(as_gateway.status().message().find("enroll it with wardend enroll"), std::string::npos);
  EXPECT_EQ(hosts_->IdentityFromCertificate(EnrollWith(host->token)->certificate_pem)->host_kind,
            "host");
  EXPECT_EQ(hosts_->CreateJoinToken(Who("root"), 0, {}, 0, {"x"}, "router").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A stolen or misdirected token cannot enroll a host under another name, and a refused attempt
// does not use the token up.
TEST_F(Hosts, ATokenEnrollsOnlyTheHostnamesItNames) {
  auto t = hosts_->CreateJoinToken(Who("root"), 1, {}, 0, {"db1", "db1.example.com"});
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->hostnames, (std::vector<std::string>{"db1", "db1.example.com"}));
  auto other = hosts_->Enroll(t->token, "dc1.example.com", csr_, host_key_);
  ASSERT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(other.status().message(),
            "this join token enrolls only db1, db1.example.com, not dc1.example.com");
  auto e = EnrollWith(t->token);
  ASSERT_TRUE(e.ok()) << e.status().message();
  testing::WriteAll(dir_ / "host.pem", e->certificate_pem);
  auto san =
      testing::RunCommand("openssl x509 -noout -ext subjectAltName -in " + dir_ / "host.pem");
  ASSERT_EQ(san.exit_code, 0) << san.output;
  EXPECT_NE(san.output.find("DNS:db1.example.com"), std::string::npos) << san.output;
  EXPECT_EQ(san.output.find("DNS:db1,"), std::string::npos) << san.output;
  EXPECT_EQ(ParseCertificateLine(e->ssh_host_certificate)->principals,
            std::vector<std::string>{"db1.example.com"});
}

TEST_F(Hosts, ATokenMustNameValidHostnames) {
  auto none = hosts_->CreateJoinToken(Who("root"), 0, {}, 0, {});
  ASSERT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(none.status().message()).find("--hostname"), std::string::npos);
  EXPECT_EQ(hosts_->CreateJoinToken(Who("root"), 0, {}, 0, {"Bad Host"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<std::string> many;
  for (size_t i = 0; i <= kMaxJoinTokenHostnames; i++) many.push_back(StrCat("h", i));
  EXPECT_EQ(hosts_->CreateJoinToken(Who("root"), 0, {}, 0, many).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The attack the per-tier host CAs stop: a tier-2 token (handed to a less trusted team) used to
// get a host certificate for a tier-0 name. The name is refused outright, and even a tier-2
// token that names the host yields a certificate from tier 2's host CA, which tier 0's clients
// do not trust.
TEST_F(Hosts, ATier2TokenCannotYieldATier0HostCertificate) {
  auto t0 = hosts_->CreateJoinToken(Who("root"), 0, {}, 0, {"dc1.example.com"});
  auto t2 = hosts_->CreateJoinToken(Who("root"), 2, {}, 0, {"web7.example.com"});
  ASSERT_TRUE(t0.ok() && t2.ok());
  EXPECT_EQ(hosts_->Enroll(t2->token, "dc1.example.com", csr_, host_key_).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto e0 = hosts_->Enroll(t0->token, "dc1.example.com", csr_, host_key_);
  auto e2 = hosts_->Enroll(t2->token, "web7.example.com", csr_, host_key_);
  ASSERT_TRUE(e0.ok() && e2.ok());
  const Bytes tier0_ca = (*ca_->TrustedKeys("host", 0))[0].public_key;
  EXPECT_EQ(ParseCertificateLine(e0->ssh_host_certificate)->signature_key, tier0_ca);
  EXPECT_EQ(ParseCertificateLine(e2->ssh_host_certificate)->signature_key,
            (*ca_->TrustedKeys("host", 2))[0].public_key);
  EXPECT_NE(ParseCertificateLine(e2->ssh_host_certificate)->signature_key, tier0_ca);
}

// A token stored before tokens named their hosts (the column's default) enrolls nothing.
TEST_F(Hosts, ATokenFromBeforeHostnameBindingIsRefusedSayingWhatToDo) {
  const std::string token = "wjt_fromanolderrelease";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "warden.db").c_str(), &db), SQLITE_OK);
  const std::string sql = StrCat(
      "INSERT INTO join_tokens (hash,tier,labels,created,expires,created_by) VALUES ('",
      HexEncode(Sha256(AsBytes(token))), "',0,'{}',", clock_.Now(), ",", clock_.Now() + 600,
      ",'root')");
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto e = EnrollWith(token);
  ASSERT_EQ(e.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(e.status().message())
                .find("wardenctl host token create --tier 0 --hostname db1.example.com"),
            std::string::npos)
      << e.status().message();
}

}  // namespace
}  // namespace warden
