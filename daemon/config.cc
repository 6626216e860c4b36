#include "daemon/config.h"

#include <unistd.h>

#include <algorithm>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "common/duration.h"
#include "common/files.h"
#include "common/strings.h"

namespace warden {

std::string HostConfig::StatePath(std::string_view name) const {
  return StrCat(state_dir, "/", name);
}

absl::StatusOr<HostConfig> LoadHostConfig(const std::string& path) {
  HostConfig c;
  auto text = ReadFile(path);
  // The packaged default may be absent (defaults apply); a file named on the command line may not.
  if (!text.ok()) {
    if (path == kDefaultHostConfig && access(path.c_str(), F_OK) != 0) return c;
    return text.status();
  }
  try {
    YAML::Node root = YAML::Load(*text);
    if (root.IsNull()) return c;
    if (!root.IsMap()) return absl::InvalidArgumentError(path + ": must be a YAML mapping");
    // An explicit nss_cache wins over the default derived from state_dir, in either order.
    const bool nss_explicit = static_cast<bool>(root["nss_cache"]);
    for (const auto& kv : root) {
      const std::string k = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (k == "state_dir") {
        c.state_dir = v.as<std::string>();
        if (!nss_explicit) c.nss_cache = c.state_dir + "/nss.cache";
      } else if (k == "break_glass") {
        c.break_glass = v.as<std::vector<std::string>>();
      } else if (k == "rotate_accounts") {
        c.rotate_accounts = v.as<std::vector<std::string>>();
        for (const std::string& a : c.rotate_accounts) {
          if (a.empty() || a.size() > 32 || a.find_first_of(":\n/ ") != std::string::npos)
            return absl::InvalidArgumentError(
                StrCat(path, ": rotate_accounts: \"", a.substr(0, 40), "\" is not an account name"));
        }
      } else if (k == "kill_grace_ms") {
        c.kill_grace_ms = v.as<int64_t>();
      } else if (k == "max_sessions_per_account") {
        c.max_sessions_per_account = v.as<int64_t>();
        if (c.max_sessions_per_account < 1 || c.max_sessions_per_account > 1024)
          return absl::InvalidArgumentError(
              StrCat(path, ": max_sessions_per_account must be between 1 and 1024"));
      } else if (k == "reconnect_max_ms") {
        c.reconnect_max_ms = std::max<int64_t>(250, v.as<int64_t>());
      } else if (k == "recording_buffer_mb") {
        c.recording_buffer_mb = v.as<int64_t>();
        if (c.recording_buffer_mb < 1 || c.recording_buffer_mb > 4096)
          return absl::InvalidArgumentError(
              StrCat(path, ": recording_buffer_mb must be between 1 and 4096"));
      } else if (k == "inventory_interval") {
        absl::StatusOr<int64_t> d = ParseDuration(v.as<std::string>());
        if (!d.ok() || *d < 1 || *d > 86400)
          return absl::InvalidArgumentError(StrCat(
              path, ": inventory_interval must be a duration from 1s to 1d, like 60s or 5m"));
        c.inventory_interval_ms = *d * 1000;
      } else if (k == "recording_compression") {
        const std::string how = v.as<std::string>();
        if (how != "lz4" && how != "none")
          return absl::InvalidArgumentError(StrCat(
              path, ": recording_compression must be lz4 or none, not \"", how, "\""));
        c.recording_compress = how == "lz4";
      } else {
        static const std::map<std::string, std::string HostConfig::*> kStrings = {
            {"nss_cache", &HostConfig::nss_cache},         {"sudoers_file", &HostConfig::sudoers_file},
            {"agent_socket", &HostConfig::agent_socket},   {"home_root", &HostConfig::home_root},
            {"principals_user", &HostConfig::principals_user}, {"visudo", &HostConfig::visudo},
            {"password_check_service", &HostConfig::password_check_service},
            {"inventory_root", &HostConfig::inventory_root},
            {"login_records", &HostConfig::login_records}};
        auto it = kStrings.find(k);
        if (it == kStrings.end()) {
          return absl::InvalidArgumentError(StrCat(path, ": unknown key \"", k, "\""));
        }
        c.*(it->second) = v.as<std::string>();
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(StrCat(path, ": ", e.what()));
  }
  if (c.home_root.empty() || c.home_root[0] != '/' || c.home_root == "/") {
    return absl::InvalidArgumentError(path + ": home_root must be an absolute directory, not /");
  }
  return c;
}

absl::StatusOr<HostEnrollment> LoadEnrollment(const HostConfig& c) {
  const std::string path = c.StatePath("enrollment.json");
  auto text = ReadFile(path);
  if (!text.ok()) {
    return absl::FailedPreconditionError(
        "this host is not enrolled; run: wardend enroll --controller HOST:PORT --token TOKEN "
        "--ca-file CA.crt");
  }
  try {
    auto j = nlohmann::json::parse(*text);
    HostEnrollment e;
    e.controller = j.at("controller").get<std::string>();
    e.host_id = j.at("host_id").get<std::string>();
    e.tier = j.at("tier").get<int>();
    e.labels = j.value("labels", std::map<std::string, std::string>{});
    return e;
  } catch (const nlohmann::json::exception& ex) {
    return absl::DataLossError(StrCat(path, " is corrupt (", ex.what(), "); enroll again"));
  }
}

absl::Status SaveEnrollment(const HostConfig& c, const HostEnrollment& e) {
  nlohmann::json j = {{"controller", e.controller}, {"host_id", e.host_id}, {"tier", e.tier},
                      {"labels", e.labels}};
  return WriteFileAtomic(c.StatePath("enrollment.json"), j.dump(2) + "\n", 0644);
}

}  // namespace warden
