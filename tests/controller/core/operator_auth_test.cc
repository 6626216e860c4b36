#include "controller/core/operator_auth.h"

#include <atomic>
#include <thread>

#include "common/totp.h"
#include "controller/keys/x509_issuer.h"
#include "tests/controller/fixture.h"

namespace warden {
namespace {

class OperatorLogin : public testing::CoreFixture {
 protected:
  void SetUp() override {
    CoreFixture::SetUp();
    X509Ptr ca = ClusterCa();
    ASSERT_NE(ca, nullptr);
    auth_ =
        std::make_unique<OperatorAuth>(policy_, *store_, keys_, clock_, "cluster", std::move(ca));
    auto alice = auth_->CreateUser("alice");
    ASSERT_TRUE(alice.ok());
    alice_ = *alice;
  }
  std::string Code(int64_t unix_time) {
    return TotpCode(*Base32Decode(alice_.totp_secret), static_cast<uint64_t>(unix_time) / 30);
  }
  std::string Csr() { return *CertificateRequestPem(GenerateP256Key()->get()); }

  std::unique_ptr<OperatorAuth> auth_;
  NewUserSecrets alice_;
};

// An attacker who sees a code (shoulder, phishing proxy) races the user with it: of concurrent
// logins with one code, exactly one succeeds.
TEST_F(OperatorLogin, ConcurrentLoginsWithOneCodeSucceedOnce) {
  constexpr int kLogins = 6;
  const std::string code = Code(clock_.Now());
  std::vector<std::string> csrs;
  for (int i = 0; i < kLogins; i++) csrs.push_back(Csr());
  std::atomic<int> ready{0}, succeeded{0}, denied{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kLogins; i++) {
    threads.emplace_back([&, i] {
      ready++;
      while (ready.load() < kLogins) std::this_thread::yield();
      auto r = auth_->Login("alice", alice_.password, code, csrs[i]);
      if (r.ok()) {
        succeeded++;
      } else if (std::string(r.status().message()) == kLoginDenied) {
        denied++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(succeeded.load(), 1);
  EXPECT_EQ(denied.load(), kLogins - 1);
}

TEST_F(OperatorLogin, TheUsedStepNeverMovesBackwards) {
  const int64_t now = clock_.Now();
  ASSERT_TRUE(auth_->Login("alice", alice_.password, Code(now + 30), Csr()).ok());
  // The previous step's code is still inside the skew window, but older than the one used.
  auto older = auth_->Login("alice", alice_.password, Code(now), Csr());
  EXPECT_EQ(std::string(older.status().message()), kLoginDenied);
  EXPECT_EQ(store_->GetUser("alice")->value().totp_last_step, static_cast<uint64_t>(now + 30) / 30);
}

}  // namespace
}  // namespace warden
