// warden-rdpgw: the RDP gateway for Windows targets (docs/rdp-gateway.md).
//
// An operator's RDP client (mstsc, xfreerdp, Remmina) connects with a one-time ticket of an
// approved grant as its user name and password (wardenctl rdp ticket). The operator's leg is TLS
// with the gateway's certificate from the cluster CA; the ticket arrives in the client's logon
// info and goes to the controller, which takes it (single use, right or wrong), checks the grant
// behind it (active, of a role with broker.protocol rdp, of this gateway's tier) and hands over
// the target's password (GatewayService.OpenSession). The gateway then connects to the target as
// an RDP client of its own (FreeRDP: NLA, or TLS where the role says so; the target's certificate
// is pinned by the role), logs on with the injected credential, wipes it, resizes the operator's
// desktop to the target's, and relays: the target's bitmap updates and pointer go to the operator
// as received; the operator's keyboard and mouse go to the target. CredSSP is not relayed: each
// leg has its own TLS. The screen is recorded into the controller's recording pipeline as the
// gateway decoded it (changed rectangles, zstd, and a whole-screen keyframe every few seconds),
// with the operator's clicks and keys (which key only where the role records input in full). A
// moderator's terminate, the grant's revocation or its end disconnects both legs within a second;
// the credential is then checked in (and rotated, where the path rotates after use).
#pragma once

#include "common/service_watchdog.h"

#include <atomic>
#include <string>

#include "gateway/sshgw_config.h"
#include "gateway/uplink.h"

namespace warden {

class RdpGateway {
 public:
  RdpGateway(GatewayConfig config, HostEnrollment enrollment);
  // Listens and serves until `stop`; an error if it cannot listen.
  // `beat` (may be null) is beaten on every turn of the accept loop (service_watchdog.h).
  absl::Status Run(const std::atomic<bool>& stop, Heartbeat* beat = nullptr);

  GatewayUplink& uplink() { return uplink_; }
  const GatewayConfig& config() const { return config_; }

 private:
  const GatewayConfig config_;
  GatewayUplink uplink_;
  std::atomic<int64_t> connections_{0};
};

}  // namespace warden
