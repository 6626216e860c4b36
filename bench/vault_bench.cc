// Vault benchmark. In one run, side by side:
//   - KV read and KV write over gRPC with mutual TLS 1.3 and the audit log on, at 1 and 32
//     concurrent clients (each its own TLS connection): operations/s, p50, p99;
//   - the same read and write called on the vault core in-process (no network, no audit): the
//     limit set by SQLite and AES-GCM here;
//   - the full dual-control checkout round trip (read -> wrapping token, two authorizations,
//     unwrap), sequential.
// The controller runs in this process on 127.0.0.1 with its real SoftHSM2 token (pkcs11 seal).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "bench/load.h"
#include "tests/api_client.h"
#include "warden/v1/vault.grpc.pb.h"

namespace warden {
namespace {

namespace pb = ::warden::v1;
using Steady = std::chrono::steady_clock;

using bench::LoadResult;
using bench::RunLoad;

void Row(const char* what, const LoadResult& r) {
  std::printf("%-56s %10.0f %9.3f %9.3f%s\n", what, r.rate, r.p50_ms, r.p99_ms,
              r.errors ? "  (errors!)" : "");
}

}  // namespace
}  // namespace warden

int main(int argc, char** argv) {
  using namespace warden;
  ConfigureServerProcess();
  const double seconds = argc > 1 ? std::atof(argv[1]) : 5.0;
  testing::ControllerHarness h;
  if (auto st = h.Start(); !st.ok()) {
    std::cerr << "setup failed: " << st.message() << "\n";
    return 1;
  }
  Controller& c = h.controller();
  auto admin = h.Login("admin"), alice = h.Login("alice"), bob = h.Login("bob"),
       carol = h.Login("carol");
  if (!admin.status.ok() || !alice.status.ok() || !bob.status.ok() || !carol.status.ok()) {
    std::cerr << "login failed\n";
    return 1;
  }
  const std::string value(64, 'x');
  {
    pb::PutSecretRequest put;
    put.set_path("kv/app/db");
    put.set_value(value);
    pb::PutSecretResponse r;
    grpc::ClientContext ctx;
    if (!pb::VaultService::NewStub(h.Channel(admin))->Put(&ctx, put, &r).ok()) return 1;
    put.set_path("kv/tier0/domain-admin");
    grpc::ClientContext ctx2;
    if (!pb::VaultService::NewStub(h.Channel(admin))->Put(&ctx2, put, &r).ok()) return 1;
  }
  std::printf("Warden vault benchmark (%d cores, %.0f s per row; 64-byte values)\n\n",
              static_cast<int>(std::thread::hardware_concurrency()), seconds);
  std::printf("%-56s %10s %9s %9s\n", "what", "per second", "p50 ms", "p99 ms");

  std::vector<std::pair<int, LoadResult>> reads;
  for (int clients : {1, 32}) {
    std::vector<std::unique_ptr<pb::VaultService::Stub>> stubs;
    for (int i = 0; i < clients; i++) {
      grpc::ChannelArguments args;
      args.SetInt("grpc.channel_id", i);  // distinct connections
      stubs.push_back(pb::VaultService::NewStub(h.Channel(admin, args)));
      pb::GetSecretRequest warm;
      warm.set_path("kv/app/db");
      pb::GetSecretResponse r;
      grpc::ClientContext ctx;
      stubs.back()->Get(&ctx, warm, &r);
    }
    pb::GetSecretRequest get;
    get.set_path("kv/app/db");
    LoadResult r = RunLoad(clients, seconds, [&](int i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      pb::GetSecretResponse resp;
      return stubs[i]->Get(&ctx, get, &resp).ok() && resp.value() == value;
    });
    reads.emplace_back(clients, r);
    char what[80];
    std::snprintf(what, sizeof what, "KV read, gRPC mTLS + audit, %2d clients", clients);
    Row(what, r);
    pb::PutSecretRequest put;
    put.set_path("kv/app/written");
    put.set_value(value);
    LoadResult w = RunLoad(clients, seconds, [&](int i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      pb::PutSecretResponse resp;
      return stubs[i]->Put(&ctx, put, &resp).ok();
    });
    std::snprintf(what, sizeof what, "KV write, gRPC mTLS + audit, %2d clients", clients);
    Row(what, w);
  }

  Identity root;
  root.user = "admin";
  LoadResult core_read = RunLoad(1, seconds, [&](int) { return c.vault().Read(root, "kv/app/db", 0).ok(); });
  Row("KV read, vault core in-process (no network, no audit)", core_read);
  LoadResult core_write = RunLoad(1, seconds, [&](int) {
    return c.vault().Put(root, "kv/app/core", AsBytes(value)).ok();
  });
  Row("KV write, vault core in-process (no network, no audit)", core_write);

  // Dual control, sequential: alice reads (token), bob and carol authorize, alice unwraps.
  auto va = pb::VaultService::NewStub(h.Channel(alice));
  auto vb = pb::VaultService::NewStub(h.Channel(bob));
  auto vc = pb::VaultService::NewStub(h.Channel(carol));
  std::vector<std::vector<double>> lat(1);
  uint64_t errors = 0;
  const auto start = Steady::now();
  while (std::chrono::duration<double>(Steady::now() - start).count() < seconds) {
    const auto t0 = Steady::now();
    pb::GetSecretRequest get;
    get.set_path("kv/tier0/domain-admin");
    pb::GetSecretResponse wrapped;
    grpc::ClientContext c1;
    bool ok = va->Get(&c1, get, &wrapped).ok() && !wrapped.wrapping_token().empty();
    for (auto* stub : {vb.get(), vc.get()}) {
      pb::AuthorizeRequest a;
      a.set_accessor(wrapped.wrap().accessor());
      a.set_reason("benchmark");
      pb::WrapInfo info;
      grpc::ClientContext ctx;
      ok = ok && stub->Authorize(&ctx, a, &info).ok();
    }
    pb::UnwrapRequest u;
    u.set_token(wrapped.wrapping_token());
    pb::GetSecretResponse out;
    grpc::ClientContext c4;
    ok = ok && va->Unwrap(&c4, u, &out).ok() && out.value() == value;
    const double ms = std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
    if (ok) {
      lat[0].push_back(ms);
    } else {
      errors++;
    }
  }
  LoadResult dual = bench::Summarize(lat, std::chrono::duration<double>(Steady::now() - start).count(), errors);
  Row("dual-control checkout (read, 2 authorizations, unwrap)", dual);

  const LoadResult& r1 = reads.front().second;
  const LoadResult& r32 = reads.back().second;
  std::printf("\nratios:\n");
  std::printf("  gRPC read (1 client) / in-process core read: %.0f%% of the rate\n",
              100.0 * r1.rate / std::max(core_read.rate, 1e-9));
  std::printf("  read p50 (1 client) vs published Vault dev-server KV read mean ~0.8 ms: %.2fx\n",
              r1.p50_ms / 0.8);
  std::printf("targets: KV read p50 < 0.5 ms (%s: %.3f ms), >= 5000 reads/s (%s: %.0f at 32 clients)\n",
              r1.p50_ms < 0.5 ? "met" : "NOT met", r1.p50_ms, r32.rate >= 5000 ? "met" : "NOT met",
              r32.rate);
  return 0;
}
