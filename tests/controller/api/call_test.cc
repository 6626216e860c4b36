// The API's authentication of callers and its one mapping of errors to gRPC statuses, without
// a server: certificates are handed to the authenticator as the TLS layer would hand them.
#include "controller/api/call.h"

#include <gtest/gtest.h>

#include <ctime>

#include "common/crypto.h"
#include "controller/core/host_registry.h"
#include "controller/core/operator_auth.h"
#include "controller/keys/x509_issuer.h"
#include "tests/controller/fixture.h"

namespace warden::testing {
namespace {

// Verifiers that accept the certificates named in them and count how often they are asked.
struct CountingVerifier {
  std::map<std::string, Identity> accepts;
  int calls = 0;
  CallerAuthenticator::Verify Fn() {
    return [this](std::string_view pem) -> absl::StatusOr<Identity> {
      calls++;
      auto it = accepts.find(std::string(pem));
      if (it == accepts.end()) return absl::PermissionDeniedError("not this kind of certificate");
      return it->second;
    };
  }
};

class CallerAuthenticatorTest : public ::testing::Test {
 protected:
  CallerAuthenticatorTest() : authenticator_(operators_.Fn(), hosts_.Fn(), clock_) {
    operators_.accepts["alice-pem"] = Identity{"alice", {"operators"}, "", kExpires, "", 0};
    hosts_.accepts["h-1-pem"] = Identity{"host/h-1", {}, "h-1", kExpires, "host", 0};
  }
  static constexpr int64_t kExpires = 1800003600;
  FakeClock clock_{1800000000};
  CountingVerifier operators_, hosts_;
  CallerAuthenticator authenticator_;
};

TEST_F(CallerAuthenticatorTest, ACallerWithoutACertificateIsToldHowToGetOne) {
  auto op = authenticator_.Authenticate(std::nullopt, Caller::kOperator);
  EXPECT_EQ(op.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(op.status().message(), "no client certificate; run wardenctl login first");
  auto host = authenticator_.Authenticate(std::nullopt, Caller::kHost);
  EXPECT_EQ(host.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(host.status().message(), "no client certificate; enroll the host first");
  EXPECT_EQ(operators_.calls + hosts_.calls, 0);
}

TEST_F(CallerAuthenticatorTest, ACertificateIsCheckedOnceUntilItExpires) {
  for (int i = 0; i < 3; i++) {
    auto id = authenticator_.Authenticate("alice-pem", Caller::kOperator);
    ASSERT_TRUE(id.ok()) << id.status().message();
    EXPECT_EQ(id->user, "alice");
  }
  EXPECT_EQ(operators_.calls, 1);
  clock_.Advance(3600);
  EXPECT_TRUE(authenticator_.Authenticate("alice-pem", Caller::kOperator).ok());
  EXPECT_EQ(operators_.calls, 2) << "an expired entry is checked again";
}

TEST_F(CallerAuthenticatorTest, AnIdentityProvenForOneKindOfCallerNeverServesTheOther) {
  ASSERT_TRUE(authenticator_.Authenticate("alice-pem", Caller::kOperator).ok());
  EXPECT_EQ(authenticator_.Authenticate("alice-pem", Caller::kHost).status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(authenticator_.Authenticate("h-1-pem", Caller::kHost).ok());
  EXPECT_EQ(authenticator_.Authenticate("h-1-pem", Caller::kOperator).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(operators_.calls, 2);
  EXPECT_EQ(hosts_.calls, 2);
}

TEST_F(CallerAuthenticatorTest, ARefusalIsNotCached) {
  EXPECT_FALSE(authenticator_.Authenticate("mallory-pem", Caller::kOperator).ok());
  operators_.accepts["mallory-pem"] = Identity{"mallory", {}, "", kExpires, "", 0};
  EXPECT_TRUE(authenticator_.Authenticate("mallory-pem", Caller::kOperator).ok());
}

// Certificates issued by the cluster CA as login and enrollment issue them, checked by the
// cores that own those kinds of caller.
class CertificateCallers : public CoreFixture {
 protected:
  void SetUp() override {
    CoreFixture::SetUp();
    ca_cert_ = ClusterCa();
    ASSERT_NE(ca_cert_, nullptr);
    auth_ = std::make_unique<OperatorAuth>(policy_, *store_, keys_, clock_, "cluster",
                                           X509Ptr(X509_dup(ca_cert_.get())));
    hosts_ = std::make_unique<HostRegistry>(*policy_, *store_, *store_, keys_, *ca_, clock_, "cluster",
                                            X509Ptr(X509_dup(ca_cert_.get())));
    authenticator_ = std::make_unique<CallerAuthenticator>(
        [this](std::string_view pem) { return auth_->IdentityFromCertificate(pem); },
        [this](std::string_view pem) { return hosts_->IdentityFromCertificate(pem); }, clock_);
    HostRow h;
    h.id = "h-1";
    h.hostname = "h-1";
    h.labels = "{}";
    ASSERT_TRUE(store_->InsertHost(h).ok());
  }

  // A client certificate for `name` of kind `ou`, valid for an hour of both the real clock
  // (operators' certificates are checked against it) and the test's.
  std::string Certificate(const std::string& name, std::string_view ou) {
    X509Profile p;
    p.common_name = name;
    p.organizational_unit = std::string(ou);
    p.client_auth = true;
    p.not_before_unix = static_cast<int64_t>(time(nullptr)) - 60;
    p.not_after_unix = std::max<int64_t>(time(nullptr), clock_.Now()) + 3600;
    auto key = GenerateP256Key();
    EXPECT_TRUE(key.ok());
    auto cert = IssueX509(keys_, "cluster", ca_cert_.get(), key->get(), p);
    EXPECT_TRUE(cert.ok()) << cert.status().message();
    auto pem = CertificateToPem(cert->get());
    EXPECT_TRUE(pem.ok());
    return pem.ok() ? *pem : "";
  }

  X509Ptr ca_cert_;
  std::unique_ptr<OperatorAuth> auth_;
  std::unique_ptr<HostRegistry> hosts_;
  std::unique_ptr<CallerAuthenticator> authenticator_;
};

TEST_F(CertificateCallers, AnOperatorIsWhoTheirCertificateNamesWithTheirGroups) {
  auto alice = authenticator_->Authenticate(Certificate("alice", kOperatorOu), Caller::kOperator);
  ASSERT_TRUE(alice.ok()) << alice.status().message();
  EXPECT_EQ(alice->user, "alice");
  EXPECT_TRUE(alice->host_id.empty());
  EXPECT_EQ(alice->groups, policy_->GroupsOf("alice"));
  auto root = authenticator_->Authenticate(Certificate("root", kOperatorOu), Caller::kOperator);
  ASSERT_TRUE(root.ok()) << root.status().message();
  EXPECT_NE(std::find(root->groups.begin(), root->groups.end(), "admins"), root->groups.end())
      << "an admin is an operator in the admins group";
}

TEST_F(CertificateCallers, AnEnrolledHostIsTheHostItsCertificateNames) {
  auto host = authenticator_->Authenticate(Certificate("h-1", kHostOu), Caller::kHost);
  ASSERT_TRUE(host.ok()) << host.status().message();
  EXPECT_EQ(host->host_id, "h-1");
  EXPECT_EQ(host->user, "host/h-1");
  EXPECT_EQ(
      authenticator_->Authenticate(Certificate("h-2", kHostOu), Caller::kHost).status().code(),
      absl::StatusCode::kPermissionDenied)
      << "a host that is not enrolled (any more)";
}

TEST_F(CertificateCallers, AnOperatorsCertificateIsNoHostsAndTheOtherWayRound) {
  EXPECT_EQ(authenticator_->Authenticate(Certificate("alice", kOperatorOu), Caller::kHost)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(
      authenticator_->Authenticate(Certificate("h-1", kHostOu), Caller::kOperator).status().code(),
      absl::StatusCode::kPermissionDenied);
}

TEST(ToGrpcStatus, EveryCodeAndItsMessageCarryOver) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  for (int code = 1; code <= 16; code++) {
    const absl::Status st(static_cast<absl::StatusCode>(code), "why");
    const grpc::Status out = ToGrpcStatus(st);
    EXPECT_EQ(static_cast<int>(out.error_code()), code) << absl::StatusCodeToString(st.code());
    EXPECT_EQ(out.error_message(), "why");
  }
  EXPECT_EQ(ToGrpcStatus(absl::PermissionDeniedError("no")).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ToGrpcStatus(absl::UnauthenticatedError("no")).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace warden::testing
