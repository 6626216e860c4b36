// warden-controller: init a data directory, add operators, serve the gRPC API.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <fstream>
#include <iostream>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "common/service_watchdog.h"
#include "controller/api/services.h"
#include "controller/store/sqlite/sqlite_store.h"

namespace {

volatile sig_atomic_t g_stop = 0;

void OnSignal(int) { g_stop = 1; }

int Fail(const absl::Status& st) {
  std::cerr << "warden-controller: " << st.message() << "\n";
  return 1;
}

int Serve(const std::string& config_path, const std::string& port_file) {
  auto config = warden::LoadControllerConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  static warden::SystemClock clock;
  auto c = warden::Controller::Open(*config, clock);
  if (!c.ok()) return Fail(c.status());
  absl::Status audit_status = (*c)->audit().Open();
  // A log cut at its end or rewritten is evidence: nothing is appended to it.
  if (audit_status.code() == absl::StatusCode::kDataLoss) return Fail(audit_status);
  if (!audit_status.ok()) {
    // Serve anyway: every call is refused with this reason until the log is writable again.
    std::cerr << "warden-controller: " << audit_status.message() << "\n";
  }
  if (absl::Status st = (*c)->StartAnalytics(); !st.ok()) return Fail(st);
  auto metrics = std::make_unique<warden::MetricsServer>(**c);
  if (!config->metrics_listen.empty()) {
    if (absl::Status st = metrics->Start(config->metrics_listen); !st.ok()) return Fail(st);
    std::cout << "warden-controller metrics on "
              << config->metrics_listen.substr(0, config->metrics_listen.rfind(':')) << ":"
              << metrics->port() << "/metrics" << std::endl;
  }
  warden::ApiServices services(**c);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config->listen, warden::ControllerServerCredentials(**c), &port);
  builder.SetMaxReceiveMessageSize(warden::kMaxApiMessageBytes);
  services.Register(builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    return Fail(absl::UnavailableError("cannot listen on " + config->listen));
  }
  std::cout << "warden-controller listening on port " << port << std::endl;
  if (!port_file.empty()) std::ofstream(port_file) << port << "\n";

  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  // Database leases whose time is up, every second (at start first those that ran out while the
  // controller was down), on a thread of their own: a database that does not answer holds up
  // only its leases. Failures are retried with backoff and each is an alert in the audit log.
  std::thread leases([&c] {
    while (!g_stop) {
      auto revoked = (*c)->databases().RevokeExpired(warden::kLeasesPerPass);
      if (!revoked.ok()) std::cerr << "warden-controller: database leases: " << revoked.status().message() << "\n";
      if (revoked.ok() && *revoked == warden::kLeasesPerPass) continue;  // a backlog: on at once
      for (int i = 0; i < 10 && !g_stop; i++) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  // Rotation and reconciliation (core/rotation.h): first the rotations a crash left pending,
  // then a pass every 5 s. Each target is a few round trips; its own thread, so a slow target
  // holds up neither leases nor check-outs. Failures are alerted inside.
  std::thread rotation([&c] {
    auto recovered = (*c)->rotation().Recover();
    if (!recovered.ok()) std::cerr << "warden-controller: rotation recovery: " << recovered.status().message() << "\n";
    while (!g_stop) {
      auto acted = (*c)->rotation().RunDue();
      if (!acted.ok()) std::cerr << "warden-controller: rotation: " << acted.status().message() << "\n";
      for (int i = 0; i < 50 && !g_stop; i++) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  // systemd restarts the controller when this loop, which reaches the store every 5 s, stops
  // turning (a deadlock on the database, a call that never returns): WatchdogSec= in the unit.
  warden::ServiceWatchdog watchdog("warden-controller");
  warden::Heartbeat& beat = watchdog.Register("main");
  std::atomic<bool> watchdog_stop{false};
  std::thread watchdog_thread([&] { watchdog.Run(watchdog_stop); });
  warden::NotifyReady();
  for (int tick = 0; !g_stop; tick++) {
    beat.Beat();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (tick % 50 == 0) {
      // Check-outs whose lease ran out: ended, and counted as used where rotate_after_use.
      auto ended = (*c)->vault().EndExpiredCheckouts();
      if (!ended.ok()) std::cerr << "warden-controller: vault check-outs: " << ended.status().message() << "\n";
    }
  }
  warden::NotifyStopping();
  watchdog_stop = true;
  watchdog_thread.join();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  leases.join();
  rotation.join();
  metrics.reset();
  (*c)->StopAnalytics();
  absl::Status st = (*c)->audit().Close();
  if (!st.ok()) return Fail(st);
  std::cout << "warden-controller stopped; audit log checkpointed" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  warden::ConfigureServerProcess();
  CLI::App app{"warden-controller: Warden's central certificate authority and access API"};
  app.require_subcommand(1);

  warden::InitOptions init;
  auto* init_cmd = app.add_subcommand("init", "create a data directory, token and keys");
  init_cmd->add_option("--data-dir", init.data_dir, "directory to create")->required();
  init_cmd->add_option("--policy", init.policy_path, "policy YAML to install (default: example)");
  init_cmd->add_option("--listen", init.listen, "address the API will listen on");
  init_cmd->add_option("--server-name", init.server_names, "DNS names/IPs in the TLS certificate");
  init_cmd->add_option("--algorithm", init.algorithm, "auto (ecdsa-p256), ed25519 or ecdsa-p256");
  init_cmd->add_option("--pkcs11-module", init.pkcs11_module, "PKCS#11 module path");
  init_cmd->add_option("--admin", init.admin_user, "bootstrap admin user name");
  init_cmd->add_option("--seal", init.vault.mode,
                       "how the vault's root key is kept: pkcs11 (a key-encryption key on the "
                       "token; the default) or shamir (unseal shares)")
      ->capture_default_str();
  init_cmd->add_option("--shares", init.vault.shares, "number of unseal (or recovery) shares")
      ->capture_default_str();
  init_cmd->add_option("--threshold", init.vault.threshold, "shares needed to unseal")
      ->capture_default_str();

  std::string config_path, port_file;
  auto* serve_cmd = app.add_subcommand("serve", "serve the gRPC API (mTLS, TLS 1.3)");
  serve_cmd->add_option("--config", config_path, "controller.yaml")->required();
  serve_cmd->add_option("--port-file", port_file, "write the bound port here (for --listen :0)");

  std::string user_name;
  auto* user_cmd = app.add_subcommand("user", "manage operator accounts");
  user_cmd->require_subcommand(1);
  auto* user_add = user_cmd->add_subcommand("add", "create an operator; prints password and TOTP once");
  user_add->add_option("--config", config_path, "controller.yaml")->required();
  user_add->add_option("name", user_name, "user name")->required();

  auto* migrate_cmd = app.add_subcommand(
      "migrate", "bring the database's schema up to this version (a copy is kept first)");
  migrate_cmd->add_option("--config", config_path, "controller.yaml")->required();

  CLI11_PARSE(app, argc, argv);

  if (*init_cmd) {
    absl::Status st = warden::InitDataDir(init, std::cout);
    return st.ok() ? 0 : Fail(st);
  }
  if (*serve_cmd) return Serve(config_path, port_file);
  if (*migrate_cmd) {
    // Only the database: the keys, the token and the audit log are not needed to migrate, and a
    // package upgrade runs this with the service stopped.
    auto config = warden::LoadControllerConfig(config_path);
    if (!config.ok()) return Fail(config.status());
    auto u = warden::SqliteStore::Upgrade(config->data_dir + "/warden.db");
    if (!u.ok()) return Fail(u.status());
    if (u->from == u->to) {
      std::cout << "database schema v" << u->to << ": up to date\n";
    } else {
      std::cout << "database schema v" << u->from << " -> v" << u->to << "; the v" << u->from
                << " database is kept as " << u->backup << "\n";
    }
    return 0;
  }
  if (*user_add) {
    auto config = warden::LoadControllerConfig(config_path);
    if (!config.ok()) return Fail(config.status());
    warden::SystemClock clock;
    auto c = warden::Controller::Open(*config, clock);
    if (!c.ok()) return Fail(c.status());
    auto secrets = (*c)->auth().CreateUser(user_name);
    if (!secrets.ok()) return Fail(secrets.status());
    std::cout << "user:        " << user_name << "\n"
              << "password:    " << secrets->password << "\n"
              << "TOTP secret: " << secrets->totp_secret << "\n"
              << "TOTP URI:    " << secrets->otpauth_uri << "\n";
    return 0;
  }
  return 0;
}
