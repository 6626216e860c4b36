#include "gateway/sshgw_config.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include "common/files.h"
#include "common/strings.h"

namespace warden {

absl::StatusOr<GatewayConfig> LoadGatewayConfig(const std::string& path, const GatewayDefaults& d) {
  GatewayConfig c;
  c.state.state_dir = d.state_dir;
  c.listen_port = d.port;
  c.max_connections = d.max_connections;
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    if (path == d.config_path && access(path.c_str(), F_OK) != 0) return c;
    return text.status();
  }
  try {
    YAML::Node root = YAML::Load(*text);
    if (root.IsNull()) return c;
    if (!root.IsMap()) return absl::InvalidArgumentError(path + ": must be a YAML mapping");
    for (const auto& kv : root) {
      const std::string k = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (k == "listen") {
        const std::string l = v.as<std::string>();
        const size_t colon = l.rfind(':');
        int port = 0;
        if (colon == std::string::npos || !ParseInt(l.substr(colon + 1), &port) || port < 1 ||
            port > 65535)
          return absl::InvalidArgumentError(StrCat(path, ": listen must be ADDRESS:PORT, not \"",
                                                   l.substr(0, 64), "\""));
        c.listen_address = l.substr(0, colon);
        if (c.listen_address.size() > 2 && c.listen_address.front() == '[')
          c.listen_address = c.listen_address.substr(1, c.listen_address.size() - 2);
        c.listen_port = port;
      } else if (k == "state_dir") {
        c.state.state_dir = v.as<std::string>();
      } else if (k == "max_connections") {
        c.max_connections = v.as<int64_t>();
        if (c.max_connections < 1 || c.max_connections > 65536)
          return absl::InvalidArgumentError(StrCat(path, ": max_connections must be 1..65536"));
      } else if (k == "logon_grace_seconds") {
        c.logon_grace_seconds = v.as<int64_t>();
        if (c.logon_grace_seconds < 1 || c.logon_grace_seconds > 600)
          return absl::InvalidArgumentError(StrCat(path, ": logon_grace_seconds must be 1..600"));
      } else if (k == "recording_buffer_mb") {
        c.state.recording_buffer_mb = v.as<int64_t>();
        if (c.state.recording_buffer_mb < 1 || c.state.recording_buffer_mb > 4096)
          return absl::InvalidArgumentError(StrCat(path, ": recording_buffer_mb must be 1..4096"));
      } else if (k == "reconnect_max_ms") {
        c.state.reconnect_max_ms = std::max<int64_t>(250, v.as<int64_t>());
      } else {
        return absl::InvalidArgumentError(
            StrCat(path, ": unknown key \"", k, "\"; supported: listen, state_dir, "
                   "max_connections, logon_grace_seconds, recording_buffer_mb, reconnect_max_ms"));
      }
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(StrCat(path, ": ", e.what()));
  }
  return c;
}

}  // namespace warden
