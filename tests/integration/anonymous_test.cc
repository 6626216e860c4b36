// Unauthenticated calls (Login, Enroll) under abuse, against the controller behind its real
// gRPC API: a flood from one address, oversized fields, and text that would forge log lines.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/strings.h"
#include "tests/api_client.h"
#include "tests/test_util.h"
#include "warden/v1/auth.grpc.pb.h"
#include "warden/v1/host.grpc.pb.h"

namespace warden {
namespace {

namespace pb = ::warden::v1;

class Anonymous : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { RestrictGrpcToTls13(); }
  void SetUp() override {
    auto st = h_.Start();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  std::shared_ptr<grpc::Channel> Anonymous_() {
    return testing::ApiChannel(h_.port(), h_.controller().ca_pem());
  }
  uintmax_t AuditBytes() { return std::filesystem::file_size(h_.dir() / "data/audit/audit.log"); }
  std::string AuditText() { return testing::ReadAll(h_.dir() / "data/audit/audit.log"); }

  // Enrolls host `hostname` with an admin's join token; returns a channel with its identity.
  std::shared_ptr<grpc::Channel> EnrollHost(const std::shared_ptr<grpc::Channel>& admin,
                                            const std::string& hostname) {
    pb::CreateJoinTokenRequest tr;
    tr.set_tier(1);
    tr.add_hostnames(hostname);
    pb::JoinToken token;
    grpc::ClientContext c1;
    EXPECT_TRUE(pb::HostService::NewStub(admin)->CreateJoinToken(&c1, tr, &token).ok());
    const std::string key_file = h_.dir() / ("hk-" + hostname);
    EXPECT_EQ(testing::RunCommand("ssh-keygen -q -t ed25519 -N '' -f " + key_file).exit_code, 0);
    auto host_key = GenerateP256Key();
    pb::EnrollRequest er;
    er.set_token(token.token());
    er.set_hostname(hostname);
    er.set_csr_pem(*CertificateRequestPem(host_key->get()));
    er.set_ssh_host_public_key(testing::ReadAll(key_file + ".pub"));
    pb::EnrollResponse enrolled;
    grpc::ClientContext c2;
    auto st = pb::HostService::NewStub(Anonymous_())->Enroll(&c2, er, &enrolled);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return testing::ApiChannel(h_.port(), h_.controller().ca_pem(),
                               *PrivateKeyToPem(host_key->get()), enrolled.certificate_pem());
  }

  // The host's watch stream is accepted (the controller says so in its initial metadata).
  static bool WatchAccepted(const std::shared_ptr<grpc::Channel>& host) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto reader = pb::HostService::NewStub(host)->Watch(&ctx, pb::WatchRequest());
    reader->WaitForInitialMetadata();
    const bool accepted = ctx.GetServerInitialMetadata().count("warden-watch-accepted") == 1;
    ctx.TryCancel();
    pb::HostState ignored;
    while (reader->Read(&ignored)) {
    }
    (void)reader->Finish();
    return accepted;
  }
  static bool WhoAmIWorks(const std::shared_ptr<grpc::Channel>& op) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    pb::WhoAmIResponse resp;
    return pb::AuthService::NewStub(op)->WhoAmI(&ctx, {}, &resp).ok();
  }

  testing::ControllerHarness h_;
};

// A password guesser floods Login from one address. Most calls are refused before they cost
// anything, the audit log grows with the admitted calls only (plus one summary), and operators'
// calls and the hosts' watch streams are served all along.
TEST_F(Anonymous, ALoginFloodIsRefusedWithoutFillingTheAuditLog) {
  auto admin = h_.Channel(h_.Login("admin"));
  auto host = EnrollHost(admin, "db1");
  ASSERT_TRUE(WatchAccepted(host));
  const uintmax_t audit_before = AuditBytes();

  constexpr int kThreads = 16, kCallsPerThread = 125;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::seconds(20);
  std::atomic<int> exhausted{0}, unauthenticated{0}, other{0};
  std::mutex other_mu;
  std::string first_other;
  std::vector<std::thread> flood;
  for (int t = 0; t < kThreads; t++) {
    flood.emplace_back([&, t] {
      auto stub = pb::AuthService::NewStub(Anonymous_());
      for (int i = 0; i < kCallsPerThread && std::chrono::steady_clock::now() < deadline; i++) {
        pb::LoginRequest lr;
        lr.set_user("admin");
        lr.set_password("guess-" + std::to_string(t) + "-" + std::to_string(i));
        lr.set_otp("123456");
        pb::LoginResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        // A connection that fails to come up (16 TLS handshakes at once on a loaded machine)
        // is retried, not counted: only the controller's answers are.
        ctx.set_wait_for_ready(true);
        const grpc::Status st = stub->Login(&ctx, lr, &resp);
        if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          if (++exhausted == 1) {
            EXPECT_NE(st.error_message().find("retry"), std::string::npos) << st.error_message();
          }
        } else if (st.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
          unauthenticated++;
        } else if (++other == 1) {
          std::lock_guard lock(other_mu);
          first_other = st.error_message();
        }
      }
    });
  }
  // During the flood: an operator's call and a host's watch stream.
  const bool operator_during = WhoAmIWorks(admin);
  const bool watch_during = WatchAccepted(host);
  for (auto& t : flood) t.join();
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  EXPECT_TRUE(operator_during);
  EXPECT_TRUE(watch_during);
  EXPECT_TRUE(WhoAmIWorks(admin));
  EXPECT_TRUE(WatchAccepted(host));

  const int total = exhausted + unauthenticated + other;
  ASSERT_GT(total, 100);
  EXPECT_EQ(other.load(), 0) << "the first: " << first_other;
  // The bucket: a burst of 20, then 10 a second, over however long the flood took.
  EXPECT_LE(unauthenticated.load(), 20 + 10 * (static_cast<int>(elapsed_s) + 1));
  EXPECT_GT(exhausted.load(), total / 2) << "admitted " << unauthenticated << " of " << total;
  // Each admitted call writes an intent and an outcome (well under 2 KiB together), and so do
  // the operator's and the host's calls; the refused ones at most one summary event in these
  // 20 seconds.
  const uintmax_t grown = AuditBytes() - audit_before;
  EXPECT_LE(grown, static_cast<uintmax_t>(unauthenticated + 8) * 2048)
      << "admitted " << unauthenticated << ", refused " << exhausted;
  EXPECT_NE(AuditText().find("\"type\":\"refused\""), std::string::npos);
}

TEST_F(Anonymous, OversizedFieldsAreRefusedAndNotAuditedVerbatim) {
  const std::string marker = "oversized-field-marker-";
  pb::LoginRequest lr;
  lr.set_user(marker + std::string(4000, 'u'));
  lr.set_password("x");
  lr.set_otp("123456");
  pb::LoginResponse lresp;
  grpc::ClientContext c1;
  grpc::Status st = pb::AuthService::NewStub(Anonymous_())->Login(&c1, lr, &lresp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "field user is 4023 bytes; at most 32 are accepted");

  pb::EnrollRequest er;
  er.set_token("wjt_x");
  er.set_hostname(marker + std::string(1000, 'h'));
  pb::EnrollResponse eresp;
  grpc::ClientContext c2;
  st = pb::HostService::NewStub(Anonymous_())->Enroll(&c2, er, &eresp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("field hostname is 1023 bytes; at most 253"),
            std::string::npos);

  const std::string audit = AuditText();
  EXPECT_EQ(audit.find(marker), std::string::npos);
  EXPECT_NE(audit.find("field user is 4023 bytes"), std::string::npos);  // audited by size
}

TEST_F(Anonymous, AUserNameCannotForgeAControllerLogLine) {
  setenv("JOURNAL_STREAM", "8:1234", 1);
  testing::StderrCapture capture;
  pb::LoginRequest lr;
  lr.set_user("x\n<1>fake\r\n<0>x");
  lr.set_password("x");
  lr.set_otp("123456");
  pb::LoginResponse resp;
  grpc::ClientContext ctx;
  const grpc::Status st = pb::AuthService::NewStub(Anonymous_())->Login(&ctx, lr, &resp);
  const std::string log = capture.Finish();
  unsetenv("JOURNAL_STREAM");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  int refusals = 0;
  for (std::string_view line : StrSplit(log, '\n', /*skip_empty=*/true)) {
    if (line.find("AuthService.Login refused") != std::string_view::npos) refusals++;
    EXPECT_NE(line.substr(0, 3), "<1>") << log;
    EXPECT_NE(line.substr(0, 3), "<0>") << log;
  }
  EXPECT_EQ(refusals, 1) << log;
  EXPECT_NE(log.find("user \"x\\n<1>fake\\r\\n<0>x\""), std::string::npos) << log;
}

}  // namespace
}  // namespace warden
