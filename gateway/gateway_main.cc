#include "gateway/gateway_main.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <thread>

#include "common/strings.h"
#include "daemon/log.h"

namespace warden {

int GatewayMain(int argc, char** argv, const char* program, const char* description,
                const GatewayDefaults& defaults, const GatewayServe& serve) {
  CLI::App app{StrCat(program, ": ", description)};
  app.require_subcommand(1);
  std::string config_path = defaults.config_path;
  app.add_option("--config", config_path, "configuration file")->capture_default_str();

  EnrollOptions enroll;
  CLI::App* enroll_cmd = app.add_subcommand("enroll", "enroll with a join token of kind gateway");
  enroll_cmd->add_option("--controller", enroll.controller, "controller address (host:port)")->required();
  enroll_cmd->add_option("--token", enroll.token, "join token (wardenctl host token create --kind gateway)")->required();
  enroll_cmd->add_option("--ca-file", enroll.ca_file, "the controller's cluster CA certificate")->required();
  enroll_cmd->add_option("--hostname", enroll.hostname, "the name the token enrolls (default: this machine's)");
  CLI::App* serve_cmd = app.add_subcommand("serve", "accept operators' connections");
  CLI11_PARSE(app, argc, argv);

  absl::StatusOr<GatewayConfig> config = LoadGatewayConfig(config_path, defaults);
  if (!config.ok()) {
    std::cerr << program << ": " << config.status().message() << "\n";
    return 2;
  }
  SetLogProgram(program);
  if (*enroll_cmd) {
    absl::Status st = EnrollGateway(*config, enroll, std::cout);
    if (!st.ok()) {
      std::cerr << program << ": " << st.message() << "\n";
      return 1;
    }
    return 0;
  }
  (void)serve_cmd;
  absl::StatusOr<HostEnrollment> e = LoadEnrollment(config->state);
  if (!e.ok()) {
    std::cerr << program << ": not enrolled (" << e.status().message() << "): run " << program
              << " enroll first\n";
    return 1;
  }
  // Credentials pass through this process: no core dumps of it, no ptrace by its own uid.
  prctl(PR_SET_DUMPABLE, 0);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::atomic<bool> stop{false};
  ServiceWatchdog watchdog(program);
  Heartbeat& beat = watchdog.Register("accept");
  absl::Status result;
  std::thread server([&] {
    result = serve(*config, *e, stop, beat);
    if (!result.ok()) kill(getpid(), SIGTERM);
  });
  // Ready once the accept loop turns, that is the listener is up: a gateway that cannot listen
  // exits before systemd counts it as started.
  std::thread watchdog_thread([&] {
    while (!stop && !beat.started()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (stop) return;
    NotifyReady();
    watchdog.Run(stop);
  });
  int sig = 0;
  sigwait(&signals, &sig);
  NotifyStopping();
  stop = true;
  server.join();
  watchdog_thread.join();
  if (!result.ok()) {
    std::cerr << program << ": " << result.message() << "\n";
    return 1;
  }
  LogLine(LOG_INFO, StrCat("stopped on signal ", sig));
  // Not a return: a connection thread still closing (logged above) keeps running until here;
  // nothing it uses is destroyed first.
  _exit(0);
}

}  // namespace warden
