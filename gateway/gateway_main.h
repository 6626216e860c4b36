// The command line both gateways share: `enroll` with a join token of kind gateway, then
// `serve` until SIGTERM or SIGINT.
#pragma once

#include <atomic>
#include <functional>

#include "common/service_watchdog.h"
#include "gateway/sshgw_config.h"
#include "gateway/uplink.h"

namespace warden {

// Serves until `stop`, beating `beat` on every turn of its accept loop (systemd's watchdog
// restarts a gateway whose loop stops turning).
using GatewayServe = std::function<absl::Status(const GatewayConfig&, const HostEnrollment&,
                                                const std::atomic<bool>& stop, Heartbeat& beat)>;

int GatewayMain(int argc, char** argv, const char* program, const char* description,
                const GatewayDefaults& defaults, const GatewayServe& serve);

}  // namespace warden
