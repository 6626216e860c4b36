// warden-sshgw's configuration (/etc/warden/sshgw.yaml) and the state enrollment leaves in its
// state directory (docs/ssh-gateway.md).
//
//   listen: "0.0.0.0:2222"           # where operators' SSH clients connect
//   state_dir: /var/lib/warden-sshgw # host key, client certificate, enrollment record
//   max_connections: 512             # open operator connections; beyond, new ones are refused
//   recording_buffer_mb: 64          # unacknowledged recording chunks, in memory only
//   reconnect_max_ms: 30000
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "daemon/config.h"

namespace warden {

inline constexpr const char* kDefaultGatewayConfig = "/etc/warden/sshgw.yaml";

struct GatewayConfig {
  std::string listen_address = "0.0.0.0";
  int listen_port = 2222;
  int64_t max_connections = 512;
  // The state directory, recording buffer and reconnect backoff, in wardend's terms: the gateway
  // enrolls and uploads recordings as wardend does (daemon/controller_link.h).
  HostConfig state;

  std::string HostKeyPath() const { return state.StatePath("ssh_host_ed25519_key"); }
};

// Missing default file = defaults. Unknown keys are errors.
absl::StatusOr<GatewayConfig> LoadGatewayConfig(const std::string& path);

}  // namespace warden
