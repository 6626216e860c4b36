// What warden-sshgw and warden-rdpgw share: the controller channel of their enrollment, the
// brokered session's opening and closing there (GatewayService), the recording spool and its
// uplink, and the live sessions that the controller's word (a moderator's terminate, a revoked
// grant, moderators watching) reaches.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "daemon/controller_link.h"
#include "daemon/recording_spool.h"
#include "gateway/sshgw_config.h"
#include "warden/v1/gateway.grpc.pb.h"

namespace warden {

// The gateway's address of a connected socket's peer ("" when it has none).
std::string PeerAddress(int fd);
int64_t MonoNs();
// The SHA-256 of the certificate in the PEM file at `pem_path`, lowercase hex ("?" if unreadable).
std::string CertificateSha256(const std::string& pem_path);
int64_t UnixNs();

class GatewayUplink {
 public:
  struct Handlers {
    std::function<void(const SessionControl&)> control;
    std::function<void()> lost;  // the upload stream went away: nobody watches any more
  };

  GatewayUplink(const HostConfig& state, HostEnrollment enrollment, std::string program);
  ~GatewayUplink();

  std::shared_ptr<grpc::Channel> Channel();
  RecordingSpool& spool() { return spool_; }
  const HostEnrollment& enrollment() const { return enrollment_; }

  // GatewayService.OpenSession; a refusal keeps the controller's reason (PERMISSION_DENIED), an
  // unreachable controller says so (UNAVAILABLE: no session without it).
  absl::Status OpenSession(const v1::OpenBrokerSessionRequest& req, v1::BrokerSession* out);
  // Logs the session and opens its recording (under the grant's login, named by the target;
  // strict where the role says so). Returns the recording's start (MonoNs).
  int64_t BeginRecording(const v1::BrokerSession& s, const std::string& peer);
  // GatewayService.CloseSession, retried; the outcome (check-in, rotation) is logged.
  void CloseSession(const std::string& session_id);

  void Register(const std::string& session_id, Handlers h);
  void Unregister(const std::string& session_id);
  // Starts the upload and the spool's flushing.
  void Start();
  // Set by Shutdown: no new session opens.
  bool stopping() const { return stopping_; }
  // The gateway stops: open sessions end, each operator told why, and their credentials are
  // checked in (60 s at most for the `open` connections to close, else an alert); then what they
  // recorded is sent (5 s at most) and the upload ends.
  void Shutdown(const std::atomic<int64_t>& open);

 private:
  void OnControl(const std::string& session_id, const SessionControl& c);
  // Waits (5 s at most) for what is recorded to be acknowledged, then ends the upload.
  void Stop();

  const HostConfig state_;
  const HostEnrollment enrollment_;
  const std::string program_;
  RecordingSpool spool_;
  std::mutex mu_;
  std::shared_ptr<grpc::Channel> channel_;
  std::map<std::string, Handlers> sessions_;  // live, by session id
  std::atomic<bool> stop_{false};
  std::atomic<bool> stopping_{false};
  std::thread uplink_, flusher_;
};

// Generates the gateway's SSH host key (Ed25519, in the state directory; the controller
// certifies one for every machine it enrolls, and only warden-sshgw serves with it) if it has
// none, and enrolls with a join token of kind gateway.
absl::Status EnrollGateway(const GatewayConfig& c, EnrollOptions o, std::ostream& out);

}  // namespace warden
