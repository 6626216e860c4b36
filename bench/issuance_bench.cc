// Certificate issuance benchmark. In one run, side by side:
//   - SignUserKey over gRPC with mutual TLS 1.3, audit log on, at 1, 8 and 32 concurrent clients
//     (each client its own TLS connection): certificates/s, p50, p99;
//   - the raw signing rate of the same CA key through PKCS#11 (SoftHSM2), 1 and 2 threads;
//   - the raw signing rate of an in-process OpenSSL key of the same algorithm (the limit);
//   - `ssh-keygen -s` in a loop (what an admin scripts today).
// The controller runs in this process on 127.0.0.1 with its real SoftHSM2 token and audit log.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "bench/load.h"
#include "controller/api/services.h"
#include "controller/keys/software_keystore.h"
#include "tests/api_client.h"
#include "tests/test_util.h"
#include "warden/v1/access.grpc.pb.h"
#include "warden/v1/ca.grpc.pb.h"

namespace warden {
namespace {

namespace pb = ::warden::v1;
using Clock = std::chrono::steady_clock;

struct Result {
  double rate = 0;
  double p50_ms = 0, p99_ms = 0;
  uint64_t n = 0;
};

class Bench {
 public:
  bool Setup() {
    if (auto st = h_.Start(); !st.ok()) return Fail(st);
    c_ = &h_.controller();
    port_ = h_.port();
    auto alice = Login("alice"), bob = Login("bob"), carol = Login("carol");
    if (!alice.channel || !bob.channel || !carol.channel) return false;
    pb::CreateRequestRequest cr;
    cr.set_role("tier0-linux-admin");
    cr.set_reason("benchmark");
    pb::AccessRequest req;
    grpc::ClientContext c1;
    pb::AccessService::NewStub(alice.channel)->CreateRequest(&c1, cr, &req);
    pb::ReviewRequest rv;
    rv.set_id(req.id());
    for (auto* ch : {&bob, &carol}) {
      grpc::ClientContext c;
      pb::AccessService::NewStub(ch->channel)->ApproveRequest(&c, rv, &req);
    }
    grant_ = req.grant_id();
    alice_ = alice;
    testing::RunCommand("ssh-keygen -q -t ed25519 -N '' -f " + dir_ / "id");
    pubkey_ = testing::ReadAll(dir_ / "id.pub");
    return !grant_.empty();
  }

  // Each client opens its own TLS connection with alice's login certificate.
  Result Issue(int clients, double seconds) {
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    for (int i = 0; i < clients; i++) {
      grpc::ChannelArguments args;
      args.SetInt("grpc.channel_id", i);  // distinct connections, not one shared subchannel
      channels.push_back(testing::ApiChannel(port_, c_->ca_pem(), alice_.key_pem, alice_.cert_pem, args));
    }
    pb::SignUserKeyRequest sr;
    sr.set_grant_id(grant_);
    sr.set_public_key(pubkey_);
    // Warm up every connection (TLS handshake) before timing.
    std::vector<std::unique_ptr<pb::CaService::Stub>> stubs;
    for (auto& ch : channels) {
      stubs.push_back(pb::CaService::NewStub(ch));
      grpc::ClientContext ctx;
      pb::SignUserKeyResponse r;
      stubs.back()->SignUserKey(&ctx, sr, &r);
    }
    bench::LoadResult l = bench::RunLoad(clients, seconds, [&](int i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      pb::SignUserKeyResponse r;
      return stubs[i]->SignUserKey(&ctx, sr, &r).ok();
    });
    if (l.errors) std::cerr << "  (" << l.errors << " failed calls)\n";
    Result r;
    r.n = l.n;
    r.rate = l.rate;
    r.p50_ms = l.p50_ms;
    r.p99_ms = l.p99_ms;
    return r;
  }

  // Raw signing rate of `label` in `store` over a certificate-sized message.
  static Result Sign(KeyStore& store, const std::string& label, int threads, double seconds) {
    const Bytes msg = RandomBytes(400);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> n{0};
    std::vector<std::thread> ts;
    const auto start = Clock::now();
    for (int i = 0; i < threads; i++) {
      ts.emplace_back([&] {
        while (!stop.load(std::memory_order_relaxed)) {
          if (store.Sign(label, msg).ok()) n++;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : ts) t.join();
    Result r;
    r.n = n;
    r.rate = n / std::chrono::duration<double>(Clock::now() - start).count();
    return r;
  }

  Result SshKeygenLoop(int count) {
    testing::RunCommand("ssh-keygen -q -t ecdsa -b 256 -N '' -f " + dir_ / "ca");
    const auto start = Clock::now();
    const std::string cmd = "for i in $(seq 1 " + std::to_string(count) + "); do ssh-keygen -q -s " +
                            dir_ / "ca" + " -I k -n adm -V +30m -z $i " + dir_ / "id.pub" +
                            " || exit 1; done";
    auto rc = testing::RunCommand(cmd);
    Result r;
    r.n = count;
    r.rate = rc.exit_code == 0
                 ? count / std::chrono::duration<double>(Clock::now() - start).count()
                 : 0;
    return r;
  }

  KeyStore& keys() { return c_->keys(); }

 private:
  struct Login_ {
    std::string key_pem, cert_pem;
    std::shared_ptr<grpc::Channel> channel;
  };

  Login_ Login(const std::string& user) {
    auto l = h_.Login(user);
    return {l.key_pem, l.cert_pem, l.status.ok() ? h_.Channel(l) : nullptr};
  }

  bool Fail(const absl::Status& st) {
    std::cerr << "setup failed: " << st.message() << "\n";
    return false;
  }

  testing::ControllerHarness h_;
  const testing::TempDir& dir_ = h_.dir();
  Controller* c_ = nullptr;
  int port_ = 0;
  std::string grant_, pubkey_;
  Login_ alice_;
};

}  // namespace
}  // namespace warden

int main(int argc, char** argv) {
  using namespace warden;
  ConfigureServerProcess();
  const double seconds = argc > 1 ? std::atof(argv[1]) : 5.0;
  Bench b;
  if (!b.Setup()) return 1;
  std::printf("Warden certificate issuance benchmark (%d cores, %.0f s per row)\n\n",
              static_cast<int>(std::thread::hardware_concurrency()), seconds);
  std::printf("%-54s %10s %9s %9s\n", "what", "per second", "p50 ms", "p99 ms");
  std::vector<std::pair<int, Result>> grpc_rows;
  for (int c : {1, 8, 32}) {
    Result r = b.Issue(c, seconds);
    grpc_rows.emplace_back(c, r);
    char what[80];
    std::snprintf(what, sizeof(what), "SignUserKey, gRPC mTLS + audit, %2d clients", c);
    std::printf("%-54s %10.0f %9.2f %9.2f\n", what, r.rate, r.p50_ms, r.p99_ms);
  }
  Result p1 = Bench::Sign(b.keys(), "user-ca-tier0-1", 1, seconds);
  Result p2 = Bench::Sign(b.keys(), "user-ca-tier0-1", 2, seconds);
  // The CA key is made with init's default algorithm; the in-process key is of the same kind.
  const std::string alg(KeyAlgorithmName(kDefaultKeyAlgorithm));
  auto raw_row = [&](const char* where, int threads, const Result& r) {
    const std::string what = "raw " + alg + " signing, " + where + ", " + std::to_string(threads) +
                             (threads == 1 ? " thread" : " threads");
    std::printf("%-54s %10.0f\n", what.c_str(), r.rate);
  };
  raw_row("PKCS#11 (SoftHSM2)", 1, p1);
  raw_row("PKCS#11 (SoftHSM2)", 2, p2);
  SoftwareKeyStore soft;
  (void)soft.Generate("ca", kDefaultKeyAlgorithm);
  Result o1 = Bench::Sign(soft, "ca", 1, seconds);
  Result o2 = Bench::Sign(soft, "ca", 2, seconds);
  raw_row("in-process OpenSSL", 1, o1);
  raw_row("in-process OpenSSL", 2, o2);
  Result k = b.SshKeygenLoop(200);
  std::printf("%-54s %10.0f\n", "ssh-keygen -s in a shell loop (200 certificates)", k.rate);

  const Result& at32 = grpc_rows.back().second;
  const double best_pkcs11 = std::max(p1.rate, p2.rate);
  std::printf("\nratios (32 clients):\n");
  std::printf("  issuance / raw PKCS#11 signing (best of 1,2 threads): %.0f%%\n",
              100.0 * at32.rate / best_pkcs11);
  std::printf("  issuance / raw in-process OpenSSL signing (2 threads): %.0f%%\n",
              100.0 * at32.rate / o2.rate);
  std::printf("  issuance / ssh-keygen -s loop: %.0fx\n", at32.rate / std::max(k.rate, 1e-9));
  std::printf("targets: >= 2000 certs/s (%s), p99 < 25 ms (%s), >= 30%% of PKCS#11 (%s)\n",
              at32.rate >= 2000 ? "met" : "NOT met", at32.p99_ms < 25 ? "met" : "NOT met",
              at32.rate >= 0.3 * best_pkcs11 ? "met" : "NOT met");
  return 0;
}
