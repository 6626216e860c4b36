// The controller in-process, over real gRPC with mutual TLS, with a SoftHSM2 token.
#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>

#include "controller/api/services.h"
#include "tests/api_client.h"
#include "tests/test_util.h"
#include "warden/v1/access.grpc.pb.h"
#include "warden/v1/audit.grpc.pb.h"
#include "warden/v1/auth.grpc.pb.h"
#include "warden/v1/ca.grpc.pb.h"
#include "warden/v1/host.grpc.pb.h"

namespace warden {
namespace {

namespace pb = ::warden::v1;

class Api : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { RestrictGrpcToTls13(); }

  void SetUp() override {
    auto st = h_.Start(/*audit_checkpoint_every=*/5);
    ASSERT_TRUE(st.ok()) << st.message();
    c_ = &h_.controller();
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& key_pem, const std::string& cert_pem) {
    return testing::ApiChannel(h_.port(), c_->ca_pem(), key_pem, cert_pem);
  }

  // Logs `user` in over the API and returns an authenticated channel.
  std::shared_ptr<grpc::Channel> Login(const std::string& user, grpc::Status* status = nullptr,
                                       const std::string& otp = "") {
    auto l = h_.Login(user, otp);
    if (status) *status = l.status;
    return l.status.ok() ? h_.Channel(l) : nullptr;
  }

  pb::CreateJoinTokenRequest TokenFor(const std::string& hostname) {
    pb::CreateJoinTokenRequest tr;
    tr.set_tier(0);
    tr.add_hostnames(hostname);
    (*tr.mutable_labels())["env"] = "prod";
    return tr;
  }
  // Enrolls a host with a new key (kept in host_key_pem_) through a token `admin` creates.
  void Enroll(const std::shared_ptr<grpc::Channel>& admin, const pb::CreateJoinTokenRequest& tr,
              pb::EnrollRequest* er, pb::EnrollResponse* enrolled) {
    pb::JoinToken token;
    grpc::ClientContext c1;
    auto st = pb::HostService::NewStub(admin)->CreateJoinToken(&c1, tr, &token);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(testing::RunCommand("ssh-keygen -q -t ed25519 -N '' -f " + dir_ / "hk").exit_code, 0);
    auto host_key = GenerateP256Key();
    ASSERT_TRUE(host_key.ok());
    host_key_pem_ = *PrivateKeyToPem(host_key->get());
    er->set_token(token.token());
    er->set_hostname(tr.hostnames(0));
    er->set_csr_pem(*CertificateRequestPem(host_key->get()));
    er->set_ssh_host_public_key(testing::ReadAll(dir_ / "hk.pub"));
    grpc::ClientContext c2;
    st = pb::HostService::NewStub(Channel("", ""))->Enroll(&c2, *er, enrolled);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }

  testing::ControllerHarness h_;
  std::string host_key_pem_;
  Controller* c_ = nullptr;
  const testing::TempDir& dir_ = h_.dir();
};

TEST_F(Api, RequestApproveSignRevokeOverMutualTls) {
  auto alice = Login("alice"), bob = Login("bob"), carol = Login("carol");
  ASSERT_TRUE(alice && bob && carol);
  pb::CreateRequestRequest cr;
  cr.set_role("tier0-linux-admin");
  cr.set_reason("CHG-1234");
  cr.set_ttl_seconds(1800);
  pb::AccessRequest req;
  grpc::ClientContext c1;
  ASSERT_TRUE(pb::AccessService::NewStub(alice)->CreateRequest(&c1, cr, &req).ok());

  pb::ReviewRequest rv;
  rv.set_id(req.id());
  pb::AccessRequest after;
  grpc::ClientContext c2;
  auto self = pb::AccessService::NewStub(alice)->ApproveRequest(&c2, rv, &after);
  EXPECT_EQ(self.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  for (auto& ch : {bob, carol}) {
    grpc::ClientContext c;
    ASSERT_TRUE(pb::AccessService::NewStub(ch)->ApproveRequest(&c, rv, &after).ok());
  }
  ASSERT_EQ(after.state(), "approved");

  ASSERT_EQ(testing::RunCommand("ssh-keygen -q -t ed25519 -N '' -f " + dir_ / "id").exit_code, 0);
  pb::SignUserKeyRequest sr;
  sr.set_grant_id(after.grant_id());
  sr.set_public_key(testing::ReadAll(dir_ / "id.pub"));
  pb::SignUserKeyResponse cert;
  grpc::ClientContext c3;
  auto st = pb::CaService::NewStub(alice)->SignUserKey(&c3, sr, &cert);
  ASSERT_TRUE(st.ok()) << st.error_message();
  auto parsed = ParseCertificateLine(cert.certificate());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->serial, cert.serial());

  // bob cannot sign under alice's grant.
  grpc::ClientContext c4;
  EXPECT_EQ(pb::CaService::NewStub(bob)->SignUserKey(&c4, sr, &cert).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  pb::RevokeGrantRequest rg;
  rg.set_id(after.grant_id());
  pb::Grant g;
  grpc::ClientContext c5;
  ASSERT_TRUE(pb::AccessService::NewStub(carol)->RevokeGrant(&c5, rg, &g).ok());
  pb::Krl krl;
  grpc::ClientContext c6;
  ASSERT_TRUE(pb::CaService::NewStub(alice)->GetKrl(&c6, {}, &krl).ok());
  auto k = ParseKrl(AsBytes(krl.krl()));
  ASSERT_TRUE(k.ok());
  EXPECT_TRUE(KrlRevokesCertificate(*k, *parsed));
  pb::GetKrlRequest again;
  again.set_if_newer_than(krl.version());
  pb::Krl same;
  grpc::ClientContext c7;
  ASSERT_TRUE(pb::CaService::NewStub(alice)->GetKrl(&c7, again, &same).ok());
  EXPECT_TRUE(same.not_modified());
  EXPECT_TRUE(same.krl().empty());
}

TEST_F(Api, OversizedMessagesAreRefusedBeforeParsing) {
  auto alice = Login("alice");
  ASSERT_TRUE(alice);
  pb::SignUserKeyRequest sr;
  sr.set_grant_id("g-x");
  sr.set_public_key(std::string(2 << 20, 'A'));
  pb::SignUserKeyResponse resp;
  grpc::ClientContext ctx;
  auto st = pb::CaService::NewStub(alice)->SignUserKey(&ctx, sr, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
}

TEST_F(Api, HostEnrollsOnceWithAJoinTokenAndIsNoOperator) {
  auto admin = Login("admin");
  ASSERT_TRUE(admin);
  pb::CreateJoinTokenRequest tr = TokenFor("db1");
  pb::EnrollRequest er;
  pb::EnrollResponse enrolled;
  ASSERT_NO_FATAL_FAILURE(Enroll(admin, tr, &er, &enrolled));
  EXPECT_EQ(enrolled.labels().at("env"), "prod");
  EXPECT_TRUE(ParseCertificateLine(enrolled.ssh_host_certificate()).ok());
  grpc::ClientContext c3;
  auto st = pb::HostService::NewStub(Channel("", ""))->Enroll(&c3, er, &enrolled);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // The host's certificate opens a TLS connection but is refused by operator calls.
  auto as_host = Channel(host_key_pem_, enrolled.certificate_pem());
  grpc::ClientContext c4;
  pb::WhoAmIResponse who;
  EXPECT_EQ(pb::AuthService::NewStub(as_host)->WhoAmI(&c4, {}, &who).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Operators who are not admins cannot create tokens.
  auto alice = Login("alice");
  grpc::ClientContext c5;
  pb::JoinToken token;
  EXPECT_EQ(pb::HostService::NewStub(alice)->CreateJoinToken(&c5, tr, &token).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

// A controller that has had no grant, revocation or rotation yet is at revision 0, like a new
// host: the host still gets its whole state (trusted CA keys, KRL) at once, and again on every
// reconnect at the revision it has.
TEST_F(Api, AHostGetsItsFullStateOnEveryConnectEvenFromAFreshController) {
  auto admin = Login("admin");
  ASSERT_TRUE(admin);
  pb::EnrollRequest er;
  pb::EnrollResponse enrolled;
  ASSERT_NO_FATAL_FAILURE(Enroll(admin, TokenFor("db1"), &er, &enrolled));
  auto as_host = Channel(host_key_pem_, enrolled.certificate_pem());
  int64_t revision = 0;
  for (int connect = 0; connect < 2; connect++) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    pb::WatchRequest req;
    req.set_revision(revision);
    auto reader = pb::HostService::NewStub(as_host)->Watch(&ctx, req);
    pb::HostState state;
    ASSERT_TRUE(reader->Read(&state)) << "connect " << connect << ": no state";
    EXPECT_EQ(state.host_id(), enrolled.host_id());
    ASSERT_EQ(state.trusted_user_ca_keys_size(), 1) << "connect " << connect;
    EXPECT_EQ(state.trusted_user_ca_keys(0).rfind("ecdsa-sha2-nistp256 ", 0), 0u);
    EXPECT_FALSE(state.krl().empty()) << "connect " << connect;
    revision = state.revision();
    ctx.TryCancel();
    while (reader->Read(&state)) {
    }
    (void)reader->Finish();
  }
  // A host ahead of the controller (whose database was restored from a backup) is not rolled
  // back: that would bring back accounts revoked since the backup.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  pb::WatchRequest ahead;
  ahead.set_revision(revision + 100);
  auto reader = pb::HostService::NewStub(as_host)->Watch(&ctx, ahead);
  pb::HostState state;
  EXPECT_FALSE(reader->Read(&state)) << "a host ahead of the controller got revision " << state.revision();
  (void)reader->Finish();
}

TEST_F(Api, OnlyAdminsExportTheAuditLogAndTheRefusalIsAudited) {
  auto alice = Login("alice");
  ASSERT_TRUE(alice);
  grpc::ClientContext ctx;
  auto reader = pb::AuditService::NewStub(alice)->ExportLog(&ctx, {});
  pb::AuditChunk chunk;
  while (reader->Read(&chunk)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  auto exported = c_->audit().Export();
  ASSERT_TRUE(exported.ok());
  EXPECT_NE(exported->first.find("\"call\":\"AuditService.ExportLog\",\"code\":\"PERMISSION_DENIED\""),
            std::string::npos);
}

TEST_F(Api, CallsWithoutAClientCertificateAreRefused) {
  grpc::ClientContext ctx;
  pb::WhoAmIResponse resp;
  auto st = pb::AuthService::NewStub(Channel("", ""))->WhoAmI(&ctx, {}, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(st.error_message().find("wardenctl login"), std::string::npos);
}

TEST_F(Api, WrongOneTimeCodeAndReplayedCodeAreRefused) {
  grpc::Status st;
  EXPECT_EQ(Login("alice", &st, "000000"), nullptr);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // The very same code, replayed, is refused even if a new 30 s step has begun meanwhile.
  const std::string code = TotpCode(*Base32Decode(h_.user("bob").totp_secret), time(nullptr) / 30);
  ASSERT_NE(Login("bob", &st, code), nullptr);
  EXPECT_EQ(Login("bob", &st, code), nullptr);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// Whichever secret was wrong, the answer is the same: it never tells a password guesser that
// the password was right.
TEST_F(Api, LoginErrorsDoNotRevealWhetherThePasswordWasRight) {
  auto carol = h_.user("carol");
  const std::string code = TotpCode(*Base32Decode(carol.totp_secret), time(nullptr) / 30);
  auto wrong_password = testing::LoginOverApi(h_.port(), c_->ca_pem(), "carol", "not-her-password",
                                              carol.totp_secret, code);
  auto wrong_code = h_.Login("carol", code == "000000" ? "111111" : "000000");
  auto malformed_code = h_.Login("carol", "12345");
  auto unknown_user = testing::LoginOverApi(h_.port(), c_->ca_pem(), "mallory", carol.password,
                                            carol.totp_secret, code);
  for (const auto* l : {&wrong_password, &wrong_code, &malformed_code, &unknown_user}) {
    EXPECT_EQ(l->status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(l->status.error_message(), kLoginDenied);
  }
  ASSERT_TRUE(h_.Login("carol", code).status.ok());
  auto replayed = h_.Login("carol", code);
  EXPECT_EQ(replayed.status.error_message(), kLoginDenied);
}

TEST_F(Api, EveryCallIsAuditedAndTheLogVerifies) {
  auto alice = Login("alice");
  ASSERT_TRUE(alice);
  for (int i = 0; i < 3; i++) {
    grpc::ClientContext ctx;
    pb::WhoAmIResponse resp;
    ASSERT_TRUE(pb::AuthService::NewStub(alice)->WhoAmI(&ctx, {}, &resp).ok());
  }
  auto exported = c_->audit().Export();
  ASSERT_TRUE(exported.ok());
  const std::string& text = exported->first;
  EXPECT_NE(text.find("\"call\":\"AuthService.Login\""), std::string::npos);
  EXPECT_EQ(text.find(h_.user("alice").password), std::string::npos);
  size_t intents = 0, outcomes = 0;
  for (size_t p = 0; (p = text.find("\"type\":\"intent\"", p)) != std::string::npos; p++) intents++;
  for (size_t p = 0; (p = text.find("\"type\":\"outcome\"", p)) != std::string::npos; p++) outcomes++;
  EXPECT_EQ(intents, 4u);
  EXPECT_EQ(outcomes, 4u);
  auto r = VerifyAuditLog(text, *c_->keys().GetPublicKey(kAuditKeyLabel), exported->second);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_GE(r->checkpoints, 1u);
}

}  // namespace
}  // namespace warden
