// warden-sshgw: enroll, then serve (docs/ssh-gateway.md, man page warden-sshgw(8)).
#include <libssh/libssh.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <iostream>
#include <thread>

#include "common/strings.h"
#include "daemon/log.h"
#include "gateway/sshgw.h"

using namespace warden;

int main(int argc, char** argv) {
  CLI::App app{"warden-sshgw: Warden's SSH broker for targets that cannot run wardend"};
  app.require_subcommand(1);
  std::string config_path = kDefaultGatewayConfig;
  app.add_option("--config", config_path, "configuration file")->capture_default_str();

  EnrollOptions enroll;
  CLI::App* enroll_cmd = app.add_subcommand("enroll", "enroll with a join token of kind gateway");
  enroll_cmd->add_option("--controller", enroll.controller, "controller address (host:port)")->required();
  enroll_cmd->add_option("--token", enroll.token, "join token (wardenctl host token create --kind gateway)")->required();
  enroll_cmd->add_option("--ca-file", enroll.ca_file, "the controller's cluster CA certificate")->required();
  enroll_cmd->add_option("--hostname", enroll.hostname, "the name the token enrolls (default: this machine's)");
  CLI::App* serve_cmd = app.add_subcommand("serve", "accept operators' SSH connections");
  CLI11_PARSE(app, argc, argv);

  absl::StatusOr<GatewayConfig> config = LoadGatewayConfig(config_path);
  if (!config.ok()) {
    std::cerr << "warden-sshgw: " << config.status().message() << "\n";
    return 2;
  }
  SetLogProgram("warden-sshgw");
  ssh_init();
  if (*enroll_cmd) {
    absl::Status st = EnrollGateway(*config, enroll, std::cout);
    if (!st.ok()) {
      std::cerr << "warden-sshgw: " << st.message() << "\n";
      return 1;
    }
    return 0;
  }
  (void)serve_cmd;
  absl::StatusOr<HostEnrollment> e = LoadEnrollment(config->state);
  if (!e.ok()) {
    std::cerr << "warden-sshgw: not enrolled (" << e.status().message()
              << "): run warden-sshgw enroll first\n";
    return 1;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::atomic<bool> stop{false};
  Gateway gw(*config, *e);
  absl::Status result;
  std::thread server([&] {
    result = gw.Run(stop);
    if (!result.ok()) kill(getpid(), SIGTERM);
  });
  int sig = 0;
  sigwait(&signals, &sig);
  stop = true;
  server.join();
  if (!result.ok()) {
    std::cerr << "warden-sshgw: " << result.message() << "\n";
    return 1;
  }
  LogLine(LOG_INFO, StrCat("stopped on signal ", sig));
  // Not a return: a connection thread still closing (logged above) must not outlive the
  // gateway's destruction.
  _exit(0);
}
