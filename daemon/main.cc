// wardend: the Warden host agent. See daemon/*.h and docs/host-agent.md.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "common/grpc_tls.h"
#include "common/service_watchdog.h"
#include "common/strings.h"
#include "daemon/agent_server.h"
#include "daemon/configure_host.h"
#include "daemon/controller_link.h"
#include "daemon/handover.h"
#include "daemon/log.h"
#include "daemon/kernel_recorder.h"
#include "daemon/procfs.h"
#include "daemon/proto_convert.h"
#include "daemon/session_recorder.h"

namespace warden {
namespace {

int Fail(const absl::Status& st) {
  std::cerr << "wardend: " << st.message() << "\n";
  return 1;
}

int64_t WallNow() { return static_cast<int64_t>(time(nullptr)); }

// Where `prerm remove` asks wardend to hand nothing over: the package is going, no run follows.
std::string NoHandoverPath(const HostConfig& c) { return HandoverPath(c) + ".off"; }

// The sessions of a handover: each taken up where its opener still runs, otherwise its recording
// completed; one that cannot be recorded again is ended. Returns the ids of those taken up.
std::set<std::string> TakeUpHandedOver(Handover& h, HostAgent& agent, SessionRecorder& recorder,
                                       RecordingSpool& spool, SessionCgroups* cgroups) {
  std::set<std::string> kept;
  const size_t chunks = h.unacked.size();
  // The chunks the controller had not acknowledged go first: each session's next chunk follows.
  spool.Requeue(std::move(h.unacked));
  for (Handover::Session& s : h.sessions) {
    auto end_cgroup = [&] {
      if (!cgroups) return;
      absl::StatusOr<int> left = cgroups->KillSession(s.host.uid, s.host.id, 5000);
      if (!left.ok()) {
        LogLine(LOG_ALERT, StrCat("session ", s.host.id, " did not end whole: ",
                                  left.status().message(), "; its processes end with the lease"));
      }
    };
    if (s.host.root_start == 0 || ProcessStartTicks(s.host.root) != s.host.root_start) {
      recorder.Complete(s.recording, "the session ended while wardend restarted");
      end_cgroup();  // what it left behind, frozen
      continue;
    }
    std::optional<LocalAccount> account = agent.Account(s.host.user);
    absl::Status st = account && account->uid == s.host.uid
                          ? recorder.TakeUp(s.recording, s.host, *account)
                          : absl::NotFoundError("its account is no longer on this host");
    if (!st.ok()) {
      const std::string why =
          StrCat("ended: it cannot be recorded again after wardend restarted (", st.message(), ")");
      LogLine(LOG_ALERT, StrCat("session ", s.host.id, " ", why));
      recorder.Complete(s.recording, why);
      end_cgroup();
      continue;
    }
    kept.insert(s.host.id);
    agent.Adopt(std::move(s.host));
  }
  LogLine(LOG_INFO, StrCat("took up ", kept.size(), " of ", h.sessions.size(),
                           " sessions handed over by the last run, and ", chunks,
                           " unacknowledged recording chunks"));
  return kept;
}

// The sessions the last run handed over (it was restarted), then any other session of this
// host's accounts that is still running.
void TakeUpSessions(const HostConfig& c, HostAgent& agent, SessionRecorder& recorder,
                    RecordingSpool& spool, SessionCgroups* cgroups) {
  unlink(NoHandoverPath(c).c_str());
  absl::StatusOr<std::optional<Handover>> taken = TakeHandover(HandoverPath(c));
  if (!taken.ok()) {
    LogLine(LOG_ALERT, StrCat("sessions of the last run not taken up: ", taken.status().message()));
  }
  std::set<std::string> kept;
  if (taken.ok() && *taken) kept = TakeUpHandedOver(**taken, agent, recorder, spool, cgroups);
  // A session of this host's accounts that nobody handed over (the last run was killed, or its
  // handover could not be read) is recorded by no one: it is ended, not left to run unrecorded.
  if (!cgroups) return;
  for (const auto& [uid, id] : cgroups->Sessions()) {
    if (kept.count(id) || !agent.ManagesUid(uid)) continue;
    if (cgroups->Processes(uid, id).empty()) {
      cgroups->Release(uid, id);
      continue;
    }
    LogLine(LOG_ALERT, StrCat("session ", id, " (uid ", uid, ") was left running by a wardend that ",
                              "did not hand it over, and nothing records it: ending it"));
    absl::StatusOr<int> left = cgroups->KillSession(uid, id, 5000);
    if (!left.ok()) {
      LogLine(LOG_ALERT, StrCat("session ", id, " did not end whole: ", left.status().message(),
                                "; its processes end with the lease"));
    }
  }
}

int Run(const HostConfig& c) {
  auto enrollment = LoadEnrollment(c);
  if (!enrollment.ok()) return Fail(enrollment.status());
  auto state = LoadLocalState(c);
  if (!state.ok()) return Fail(state.status());
  HostAgent agent(c, std::move(*state), WallNow);
  // Every Warden session is confined in a cgroup so that its lease end reaches all it started;
  // without cgroup2 no Warden session is allowed (break-glass accounts are never affected).
  auto cgroups = SessionCgroups::Open();
  if (cgroups.ok()) {
    agent.SetSessionCgroups(cgroups->get(), absl::OkStatus());
    LogLine(LOG_INFO, StrCat("sessions are confined in cgroups under ", (*cgroups)->Describe()));
  } else {
    LogLine(LOG_CRIT, StrCat("Warden sessions will be refused: ", cgroups.status().message()));
    agent.SetSessionCgroups(nullptr, cgroups.status());
  }
  // Signals go to the main thread only, which waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Leases that ended while wardend was down end now, before anyone can ask.
  agent.Enforce();
  AgentServer server(agent);
  if (absl::Status st = server.Listen(c.agent_socket); !st.ok()) return Fail(st);
  // Session recording: if the kernel capture cannot be loaded, wardend still serves (break-glass
  // and unrecorded roles keep working) but refuses every session that must be recorded.
  SpoolLimits limits;
  limits.max_unacked_bytes = static_cast<size_t>(c.recording_buffer_mb) << 20;
  RecordingSpool spool(RecordingEncoder(c.recording_compress), limits);
  SessionRecorder* sink = nullptr;
  auto recorder = Recorder::Load([&sink](uint64_t key, uint64_t mono_ns, KernelLosses lost,
                                         RecordingEvent ev) {
    sink->OnEvent(key, mono_ns, lost, std::move(ev));
  });
  std::string why;
  if (!recorder.ok()) {
    why = std::string(recorder.status().message());
    LogLine(LOG_CRIT, StrCat("session recording unavailable, recorded sessions will be refused: ", why));
  }
  ControllerLink link(agent, *enrollment);
  SessionRecorder session_recorder(spool, recorder.ok() ? recorder->get() : nullptr, why,
                                   [&link] { return link.WaitConnected(3000); });
  sink = &session_recorder;
  // A session held at its redaction limit is paused by the agent, which owns moderation.
  session_recorder.SetHoldForModerator([&agent](const std::string& id, const std::string& reason) {
    agent.HoldForModerator(id, reason);
  });
  if (cgroups.ok()) session_recorder.SetCgroups(cgroups->get());
  agent.SetSessionObserver(&session_recorder);
  TakeUpSessions(c, agent, session_recorder, spool, cgroups.ok() ? cgroups->get() : nullptr);

  std::atomic<bool> stop{false};
  // systemd restarts wardend when one of the loops the PAM module and lease ends depend on stops
  // turning (WatchdogSec= in wardend.service).
  ServiceWatchdog watchdog("wardend");
  Heartbeat& socket_beat = watchdog.Register("agent socket");
  Heartbeat& enforcer_beat = watchdog.Register("lease enforcer");
  Heartbeat& capture_beat = watchdog.Register("recording capture");
  std::thread agent_thread([&] { server.Run(stop, &socket_beat); });
  std::thread enforcer([&] { agent.RunEnforcer(stop, &enforcer_beat); });
  std::thread watch([&] { link.RunWatch(stop); });
  std::thread reports([&] { link.RunReports(stop); });
  std::thread capture([&] { session_recorder.RunCapture(stop, &capture_beat); });
  std::thread upload([&] { link.RunRecordings(spool, stop); });
  const LocalPasswords passwords(c.rotate_accounts, c.password_check_service);
  std::thread tasks([&] { link.RunTasks(passwords, stop); });
  std::thread inventory([&] { link.RunInventory(stop); });
  std::thread logins([&] { link.RunLogins(stop); });
  LogLine(LOG_INFO, StrCat("host ", enrollment->host_id, " (tier ", enrollment->tier,
                           ") serving ", c.agent_socket, "; controller ", enrollment->controller,
                           "; recordings sent ",
                           c.recording_compress ? "compressed (lz4)" : "uncompressed"));
  NotifyReady();
  std::thread watchdog_thread([&] { watchdog.Run(stop); });
  int sig = 0;
  sigwait(&signals, &sig);
  LogLine(LOG_INFO, StrCat("stopping on signal ", sig));
  NotifyStopping();
  // A restart (an upgrade) keeps the recorded sessions: frozen now, so that nothing they run acts
  // unrecorded, and handed to the next run, which thaws them. Not when the package is removed.
  const bool hand_over = access(NoHandoverPath(c).c_str(), F_OK) != 0;
  std::vector<HostSession> handed;
  if (hand_over) {
    session_recorder.FreezeForHandover();
    // What the shells wrote before the freeze is read by sshd and captured meanwhile.
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    handed = agent.HandOver();
  }
  stop = true;
  link.Cancel();
  agent.Wake();
  watchdog_thread.join();
  watch.join();
  tasks.join();
  inventory.join();
  logins.join();
  reports.join();
  capture.join();
  spool.Wake();
  upload.join();
  enforcer.join();
  agent_thread.join();
  if (hand_over) {
    std::set<std::string> ids;
    for (const HostSession& s : handed) ids.insert(s.id);
    Handover h;
    std::vector<HandedSession> recordings = session_recorder.Handover(ids);
    std::vector<std::string> names;
    for (HandedSession& r : recordings) {
      auto s = std::find_if(handed.begin(), handed.end(),
                            [&](const HostSession& x) { return x.id == r.spool.id; });
      if (s == handed.end()) continue;
      names.push_back(s->id);
      h.sessions.push_back({*s, std::move(r)});
    }
    h.unacked = spool.TakeUnacked();
    if (!h.sessions.empty() || !h.unacked.empty()) {
      absl::Status st = WriteHandover(HandoverPath(c), h);
      if (st.ok()) {
        LogLine(LOG_INFO, StrCat("handed ", h.sessions.size(), " sessions (frozen: ",
                                 StrJoin(names, ", "), ") and ",
                                 h.unacked.size(), " unacknowledged recording chunks to the next run"));
      } else {
        // No run will take them up: they end rather than run on unrecorded.
        LogLine(LOG_ALERT, StrCat("cannot hand the sessions over to the next run (", st.message(),
                                  "): ending them"));
        for (const Handover::Session& s : h.sessions) {
          if (cgroups.ok()) (*cgroups)->KillSession(s.host.uid, s.host.id, 5000).IgnoreError();
        }
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace warden

int main(int argc, char** argv) {
  using namespace warden;
  RestrictGrpcToTls13();
  CLI::App app{"wardend: Warden host agent"};
  app.require_subcommand(1);
  std::string config_path = kDefaultHostConfig;
  app.add_option("--config", config_path, "host configuration")->capture_default_str();

  EnrollOptions eo;
  auto* enroll = app.add_subcommand("enroll", "enroll this host with a single-use join token");
  enroll->add_option("--controller", eo.controller, "HOST:PORT")->required();
  enroll->add_option("--token", eo.token, "join token (wardenctl host token create)")->required();
  enroll->add_option("--ca-file", eo.ca_file, "the controller's CA certificate")->required();
  enroll->add_option("--hostname", eo.hostname, "name in the SSH host certificate");
  enroll->add_option("--ssh-host-key", eo.ssh_host_key, "public host key to certify")
      ->capture_default_str();

  auto* run = app.add_subcommand("run", "keep this host in sync and serve the PAM module");

  ConfigureOptions co;
  bool revert = false;
  auto* configure = app.add_subcommand("configure-host", "wire nsswitch, sshd and PAM to Warden");
  auto* revert_flag = configure->add_flag("--revert", revert,
                      "take Warden's blocks and nsswitch edit out again, keeping every other edit");
  configure->add_flag("--merge", co.merge,
                      "keep the site's own TrustedUserCAKeys and RevokedKeys in force beside "
                      "Warden's instead of refusing")
      ->excludes(revert_flag);
  configure->add_option("--etc", co.etc, "configuration root")->capture_default_str();
  configure->add_option("--principals-command", co.principals_command,
                        "warden-principals path for sshd")->capture_default_str();
  configure->add_option("--pam-module", co.pam_module, "pam_warden.so name or path")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  auto config = LoadHostConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  if (*enroll) {
    absl::Status st = EnrollHost(*config, eo, std::cout);
    return st.ok() ? 0 : Fail(st);
  }
  if (*run) return Run(*config);
  // sshd and PAM read the path from their own working directory.
  co.config_path = std::filesystem::absolute(config_path).lexically_normal().string();
  absl::Status st = revert ? RevertHost(*config, co, std::cout) : ConfigureHost(*config, co, std::cout);
  return st.ok() ? 0 : Fail(st);
}
