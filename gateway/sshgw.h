// warden-sshgw: the SSH broker for targets that cannot run wardend (docs/ssh-gateway.md).
//
// An operator's OpenSSH client connects with the Warden certificate of an approved grant, as
// LOGIN@TARGET (or LOGIN: the grant's role names the target). The gateway takes public-key
// authentication with certificates only; libssh has checked the signature over the session, and
// the controller checks the certificate as sshd would and hands over the target's credential
// (GatewayService.OpenSession). The gateway logs in to the target with it (common/ssh_login.h:
// pinned host key first), wipes it, and relays the operator's session channels: shell with a
// pty (window changes relayed), exec, and the sftp subsystem where the role allows it; port and
// agent forwarding, X11 and other subsystems are refused. Everything relayed is recorded into the
// controller's recording pipeline (daemon/recording_spool.h, RunRecordingUplink): output, input
// (redacted after a password prompt unless the role records it in full), window sizes, exec
// requests. A four-eyes role holds the session's channels until its moderators watch; a
// moderator's terminate, the grant's revocation or its end ends the session within a second.
// When the connection ends the credential is checked in (and rotated, where the path rotates
// after use) through GatewayService.CloseSession.
#pragma once

#include "common/service_watchdog.h"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/uplink.h"
#include "gateway/sshgw_config.h"

struct ssh_session_struct;
struct ssh_bind_struct;

namespace warden {

class BrokerConnection;

class Gateway {
 public:
  Gateway(GatewayConfig config, HostEnrollment enrollment);
  ~Gateway();
  // Listens and serves until `stop`; an error if it cannot listen.
  // `beat` (may be null) is beaten on every turn of the accept loop (service_watchdog.h).
  absl::Status Run(const std::atomic<bool>& stop, Heartbeat* beat = nullptr);

  // For connections.
  GatewayUplink& uplink() { return uplink_; }
  const GatewayConfig& config() const { return config_; }
  void Register(const std::string& session_id, BrokerConnection* c);
  // A connection nested in another's jump channel (ssh -J): `fd` is its end of the socket pair.
  void ServeNested(int fd, const std::string& peer, const std::string& target);

 private:
  void Spawn(ssh_session_struct* s, std::string peer, std::string target);

  const GatewayConfig config_;
  GatewayUplink uplink_;
  std::atomic<int64_t> connections_{0};
  std::mutex accept_mu_;
  ssh_bind_struct* bind_ = nullptr;  // guarded by accept_mu_; set while listening
};

}  // namespace warden
