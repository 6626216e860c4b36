// warden-sshgw's configuration (/etc/warden/sshgw.yaml; warden-rdpgw's rdpgw.yaml has the same
// keys) and the state enrollment leaves in its state directory (docs/ssh-gateway.md).
//
//   listen: "0.0.0.0:2222"           # where operators' SSH clients connect
//   state_dir: /var/lib/warden-sshgw # host key, client certificate, enrollment record
//   max_connections: 512             # open operator connections; beyond, new ones are refused
//   logon_grace_seconds: 60          # a connection not logged on by then is dropped
//   recording_buffer_mb: 64          # unacknowledged recording chunks, in memory only
//   reconnect_max_ms: 30000
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "daemon/config.h"

namespace warden {

// What a gateway's configuration says when it is silent (and where it is).
struct GatewayDefaults {
  const char* config_path;
  const char* state_dir;
  int port;
  int64_t max_connections;
};
inline constexpr GatewayDefaults kSshGatewayDefaults{"/etc/warden/sshgw.yaml",
                                                     "/var/lib/warden-sshgw", 2222, 512};
// warden-rdpgw (docs/rdp-gateway.md): the same keys; an RDP session costs more than an SSH one.
inline constexpr GatewayDefaults kRdpGatewayDefaults{"/etc/warden/rdpgw.yaml",
                                                     "/var/lib/warden-rdpgw", 3389, 100};

struct GatewayConfig {
  std::string listen_address = "0.0.0.0";
  int listen_port = 2222;
  int64_t max_connections = 512;
  int64_t logon_grace_seconds = 60;
  // The state directory, recording buffer and reconnect backoff, in wardend's terms: the gateway
  // enrolls and uploads recordings as wardend does (daemon/controller_link.h).
  HostConfig state;

  std::string HostKeyPath() const { return state.StatePath("ssh_host_ed25519_key"); }
};

// Missing default file = defaults. Unknown keys are errors.
absl::StatusOr<GatewayConfig> LoadGatewayConfig(const std::string& path,
                                                const GatewayDefaults& defaults);

}  // namespace warden
