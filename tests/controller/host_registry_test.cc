#include "controller/core/host_registry.h"

#include "controller/keys/x509_issuer.h"
#include "tests/controller/fixture.h"

namespace warden {
namespace {

class Hosts : public testing::CoreFixture {
 protected:
  void SetUp() override {
    CoreFixture::SetUp();
    ASSERT_TRUE(keys_.Generate("cluster", KeyAlgorithm::kEd25519).ok());
    X509Profile p;
    p.common_name = "ca";
    p.is_ca = true;
    p.not_before_unix = clock_.Now() - 60;
    p.not_after_unix = clock_.Now() + 365 * 86400;
    auto ca = IssueX509(keys_, "cluster", nullptr, KeyStorePublicEvp(keys_, "cluster")->get(), p);
    ASSERT_TRUE(ca.ok());
    ca_pem_ = *CertificateToPem(ca->get());
    hosts_ = std::make_unique<HostRegistry>(*policy_, *store_, keys_, *ca_, clock_, "cluster",
                                            *ReadCertificatePem(ca_pem_));
    ASSERT_EQ(testing::RunCommand("ssh-keygen -q -t ed25519 -N '' -f " + dir_ / "host_key").exit_code, 0);
    host_key_ = testing::ReadAll(dir_ / "host_key.pub");
    csr_ = *CertificateRequestPem(GenerateP256Key()->get());
  }
  absl::StatusOr<Enrollment> EnrollWith(const std::string& token) {
    return hosts_->Enroll(token, "db1.example.com", csr_, host_key_);
  }
  std::string ca_pem_, host_key_, csr_;
  std::unique_ptr<HostRegistry> hosts_;
};

TEST_F(Hosts, EnrollmentIssuesAnSshHostCertificateAndAnX509Identity) {
  auto t = hosts_->CreateJoinToken(Who("root"), 1, {{"env", "prod"}, {"role", "db"}}, 0);
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
  EXPECT_EQ(cert->signature_key, (*ca_->TrustedKeys("host", 0))[0].public_key);
  testing::WriteAll(dir_ / "ca.pem", ca_pem_);
  testing::WriteAll(dir_ / "host.pem", e->certificate_pem);
  auto v = testing::RunCommand("openssl verify -attime " + std::to_string(clock_.Now()) +
                               " -CAfile " + dir_ / "ca.pem" + " " + dir_ / "host.pem");
  EXPECT_EQ(v.exit_code, 0) << v.output;
}

TEST_F(Hosts, JoinTokensAreSingleUse) {
  auto t = hosts_->CreateJoinToken(Who("root"), 0, {}, 600);
  ASSERT_TRUE(EnrollWith(t->token).ok());
  auto again = EnrollWith(t->token);
  ASSERT_EQ(again.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(again.status().message()).find("single-use"), std::string::npos);
}

TEST_F(Hosts, ExpiredAndUnknownTokensAreRefusedWithAReason) {
  auto t = hosts_->CreateJoinToken(Who("root"), 2, {}, 600);
  clock_.Advance(601);
  auto expired = EnrollWith(t->token);
  ASSERT_EQ(expired.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(expired.status().message()).find("wardenctl host token create --tier 2"),
            std::string::npos);
  EXPECT_EQ(EnrollWith("wjt_notatoken").status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(Hosts, OnlyAdminsCreateTokensAndInputIsChecked) {
  EXPECT_EQ(hosts_->CreateJoinToken(Who("alice"), 0, {}, 0).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(hosts_->CreateJoinToken(Who("root"), 3, {}, 0).ok());
  EXPECT_FALSE(hosts_->CreateJoinToken(Who("root"), 0, {}, 30 * 86400).ok());
  EXPECT_FALSE(ParseLabels("env=Prod").ok());
  EXPECT_FALSE(ParseLabels("novalue").ok());
  EXPECT_EQ(ParseLabels("a=1,b=x.y")->size(), 2u);
  auto t = hosts_->CreateJoinToken(Who("root"), 0, {}, 0);
  EXPECT_FALSE(hosts_->Enroll(t->token, "Bad Host", csr_, host_key_).ok());
  EXPECT_FALSE(hosts_->Enroll(t->token, "db1", "not a csr", host_key_).ok());
  EXPECT_FALSE(hosts_->Enroll(t->token, "db1", csr_, "ssh-ed25519 AAAA").ok());
  // None of the refused attempts used the token up.
  EXPECT_TRUE(EnrollWith(t->token).ok());
}

TEST_F(Hosts, StateHoldsLiveGrantsOfTheRolesThatSelectTheHost) {
  auto enroll = [&](int tier, const std::string& env) {
    auto t = hosts_->CreateJoinToken(Who("root"), tier, {{"env", env}}, 0);
    auto e = EnrollWith(t->token);
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

TEST_F(Hosts, HostCertificatesIdentifyEnrolledHostsOnly) {
  auto t = hosts_->CreateJoinToken(Who("root"), 0, {}, 0);
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

}  // namespace
}  // namespace warden
