// A one-shot client of wardend's local socket, for tests (the real clients are C: pam_warden.so
// and warden-principals).
#pragma once

#include <string>

#include "common/status.h"
#include "warden/v1/agent.pb.h"

namespace warden {

absl::StatusOr<v1::AgentResponse> CallAgent(const std::string& socket_path,
                                            const v1::AgentRequest& req, int timeout_ms = 5000);

}  // namespace warden
