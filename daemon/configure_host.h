// `wardend configure-host`: wires the host's NSS, sshd and PAM to Warden, idempotently, with a
// backup of every file it touches; `--revert` puts back the exact previous bytes.
#pragma once

#include <ostream>
#include <string>

#include "common/status.h"
#include "daemon/config.h"

namespace warden {

struct ConfigureOptions {
  std::string etc = "/etc";                      // tests point this at a copy
  std::string principals_command = "/usr/lib/warden/warden-principals";
  std::string pam_module = "pam_warden.so";      // name or absolute path in pam.d/sshd
  std::string config_path = kDefaultHostConfig;  // passed to the principals command and PAM
};

absl::Status ConfigureHost(const HostConfig& c, const ConfigureOptions& o, std::ostream& out);
absl::Status RevertHost(const HostConfig& c, const ConfigureOptions& o, std::ostream& out);

// The pure edits, exposed for tests.
std::string EditNsswitch(const std::string& text);
std::string WithManagedBlock(const std::string& text, const std::string& block);

}  // namespace warden
