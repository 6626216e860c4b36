// wardend <-> controller: enrollment, the long-lived watch stream (reconnects with backoff and
// resumes from the last applied revision), lease-end reports, the recording upload and client
// certificate renewal.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>

#include "common/status.h"
#include "daemon/host_agent.h"
#include "daemon/local_password.h"
#include "daemon/recording_spool.h"
#include "warden/v1/host.pb.h"

namespace warden {

struct EnrollOptions {
  std::string controller;  // host:port
  std::string token;
  std::string ca_file;      // the controller's cluster CA certificate
  std::string hostname;     // empty = this machine's name
  std::string ssh_host_key = "/etc/ssh/ssh_host_ed25519_key.pub";
  std::string kind = "host";  // what the token must enroll: host (wardend) or gateway
};

// Generates the host's key, enrolls with the join token and writes key, certificates and the
// enrollment record into the state directory (plus an empty KRL and CA key file, so an sshd
// configured by configure-host starts before the first sync).
absl::Status EnrollHost(const HostConfig& c, const EnrollOptions& o, std::ostream& out);

// A channel to the controller at `target` (host:port) with keepalives, so a dead path is noticed
// while nothing is being sent.
std::shared_ptr<grpc::Channel> MakeControllerChannel(const std::string& target,
                                                     grpc::SslCredentialsOptions opts);
// A channel to `controller` with the client certificate enrollment left in c's state directory
// (ca.crt, host.key, host.crt); null when one is missing (not enrolled).
std::shared_ptr<grpc::Channel> EnrolledChannel(const HostConfig& c, const std::string& controller);
// A client context whose deadline is `seconds` from now.
std::unique_ptr<grpc::ClientContext> Deadline(int seconds);

// The recording upload of wardend and of the SSH gateway: streams the spool's chunks to the
// controller while there are any; after a reconnect sends every unacknowledged chunk again. The
// controller's word on live sessions (moderators, terminations) arriving on the same stream goes
// to `control`; when the stream breaks, `lost` (nobody watches through it any more).
struct RecordingUplink {
  std::string controller;  // for messages
  int64_t reconnect_max_ms = 30000;
  std::function<std::shared_ptr<grpc::Channel>()> channel;  // null: not enrolled
  std::function<void(const std::string& session_id, const SessionControl&)> control;
  std::function<void()> lost;
  // The stream's context while it is open (null when it ends), so that a cancel can interrupt
  // it; false: cancelled, return.
  std::function<bool(grpc::ClientContext*)> set_context;
};
void RunRecordingUplink(RecordingSpool& spool, const RecordingUplink& u,
                        const std::atomic<bool>& stop);

class ControllerLink {
 public:
  ControllerLink(HostAgent& agent, HostEnrollment enrollment)
      : agent_(agent), enrollment_(std::move(enrollment)) {}
  // The watch loop; returns when `stop` is set (call Cancel to interrupt a blocked read).
  void RunWatch(const std::atomic<bool>& stop);
  // Sends pending lease-end reports every second until `stop`.
  void RunReports(const std::atomic<bool>& stop);
  // Streams the spool's chunks to the controller while there are any; after a reconnect sends
  // every unacknowledged chunk again. The controller's word on live sessions (moderators,
  // terminations) arriving on the same stream goes to the agent.
  void RunRecordings(RecordingSpool& spool, const std::atomic<bool>& stop);
  // Takes the controller's tasks (local passwords to set or prove), runs each and answers it,
  // until `stop`; reconnects like the watch stream.
  void RunTasks(const LocalPasswords& passwords, const std::atomic<bool>& stop);
  // Discovery: reads the host's inventory (config inventory_root, every inventory_interval) and
  // reports it when it changed, once after start and at least hourly; a failed report is
  // retried with backoff and logged.
  void RunInventory(const std::atomic<bool>& stop);
  // Reads the login records every second and reports the logins of break-glass and other
  // privileged accounts (who is privileged read afresh); their place is kept only once the
  // controller has them. A thread of its own: a slow inventory (a hung home directory) does not
  // hold up a break-glass login's report.
  void RunLogins(const std::atomic<bool>& stop);
  void Cancel();
  // Whether the watch stream is up (the controller accepted this host and has not gone away
  // since), waiting up to `timeout_ms` for it when it is not: just after wardend starts or while
  // it reconnects.
  bool WaitConnected(int timeout_ms);

 private:
  std::shared_ptr<grpc::Channel> Channel();
  absl::Status SendReport(const v1::InventoryReport& req);
  void RenewIfDue();

  HostAgent& agent_;
  const HostEnrollment enrollment_;
  std::mutex mu_;
  std::shared_ptr<grpc::Channel> channel_;
  grpc::ClientContext* watch_ctx_ = nullptr;  // guarded by mu_
  grpc::ClientContext* upload_ctx_ = nullptr;  // guarded by mu_
  grpc::ClientContext* tasks_ctx_ = nullptr;   // guarded by mu_
  bool cancelled_ = false;
  std::mutex connected_mu_;
  std::condition_variable connected_cv_;
  bool connected_ = false;  // guarded by connected_mu_
  void SetConnected(bool up);
};

}  // namespace warden
