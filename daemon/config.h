// wardend's configuration: /etc/warden/host.yaml (local policy of this host; written by the
// package, edited by the host's admins) and the enrollment written by `wardend enroll`.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace warden {

inline constexpr const char* kDefaultHostConfig = "/etc/warden/host.yaml";

struct HostConfig {
  std::string state_dir = "/var/lib/warden";
  std::string nss_cache = "/var/lib/warden/nss.cache";  // where libnss_warden.so.2 looks
  std::string sudoers_file = "/etc/sudoers.d/warden";
  std::string agent_socket = "/run/warden/agent.sock";
  std::string home_root = "/home";
  // Local accounts Warden never touches: the PAM module ignores them before asking wardend.
  std::vector<std::string> break_glass = {"root"};
  // The user sshd runs AuthorizedPrincipalsCommand as; it may ask about principals only.
  std::string principals_user = "nobody";
  int64_t kill_grace_ms = 2000;  // SIGTERM, then SIGKILL after this long
  // Open Warden sessions one account may hold on this host (each holds an agent connection):
  // beyond it a login is refused, so one account cannot take every connection the socket allows.
  int64_t max_sessions_per_account = 64;
  // Reconnection backoff to the controller doubles from 250 ms up to this (with jitter).
  int64_t reconnect_max_ms = 30000;
  // Recording chunks the controller has not acknowledged yet, in memory only (never on disk).
  // Beyond this a best-effort session's data becomes a gap; a strict session is ended.
  int64_t recording_buffer_mb = 64;
  // `recording_compression: lz4` (true) or `none`: whether chunks are compressed before they
  // leave the host. None spends no CPU on it while a terminal floods, for about three times the
  // bytes to the controller (which keeps them compressed either way) and in the buffer above.
  bool recording_compress = true;
  std::string visudo = "/usr/sbin/visudo";
  // Local accounts whose password the controller may set and prove (docs/rotation.md, kind
  // linux). None by default: the host's admins hand each one to Warden.
  std::vector<std::string> rotate_accounts;
  // The PAM service a vaulted local password is proven through.
  std::string password_check_service = "warden-verify";

  // Discovery (daemon/inventory.h, docs/coverage.md): the tree read for privileged accounts ("/";
  // another root when the host's files are mounted elsewhere), how often it is read again (a
  // change is reported at once), and the login records (wtmp) logins that did not go through
  // Warden are read from.
  std::string inventory_root = "/";
  int64_t inventory_interval_ms = 60000;
  std::string login_records = "/var/log/wtmp";

  std::string StatePath(std::string_view name) const;
};

// Missing file = defaults. Unknown keys are errors (a typo must not silently weaken the host).
absl::StatusOr<HostConfig> LoadHostConfig(const std::string& path);

// What `wardend enroll` learned; state_dir/enrollment.json.
struct HostEnrollment {
  std::string controller;  // host:port
  std::string host_id;
  int tier = 0;
  std::map<std::string, std::string> labels;
};

absl::StatusOr<HostEnrollment> LoadEnrollment(const HostConfig& c);
absl::Status SaveEnrollment(const HostConfig& c, const HostEnrollment& e);

}  // namespace warden
