// `wardend configure-host`: wires the host's NSS, sshd and PAM to Warden, idempotently, and
// `--revert` takes exactly Warden's edits out again, keeping every other edit made since.
//
// Warden's edits are managed blocks between "# BEGIN warden" and "# END warden" at the top of
// sshd_config and pam.d/sshd, and the word "warden" in nsswitch.conf's passwd and group lines
// (which lines got it is recorded in state_dir/configure-host.json). A file whose markers do not
// pair up is refused, never repaired by guessing.
//
// sshd keeps the first value it reads for TrustedUserCAKeys, RevokedKeys and
// AuthorizedPrincipalsCommand, and Warden's block comes first, so a site's own value for one of
// them would silently stop counting. configure-host refuses such a line (naming file and line),
// or with `merge` keeps a global TrustedUserCAKeys / RevokedKeys in force through the files
// Warden points sshd at (daemon/site_trust.h). A site AuthorizedPrincipalsCommand, and any of
// the three inside a Match block, is always refused. Every check runs before any file changes.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "common/status.h"
#include "daemon/config.h"

namespace warden {

struct ConfigureOptions {
  std::string etc = "/etc";                      // tests point this at a copy
  std::string principals_command = "/usr/lib/warden/warden-principals";
  std::string pam_module = "pam_warden.so";      // name or absolute path in pam.d/sshd
  // Passed to the principals command and PAM. REQUIRES: absolute (sshd and PAM run elsewhere).
  std::string config_path = kDefaultHostConfig;
  bool merge = false;  // keep the site's global TrustedUserCAKeys / RevokedKeys in force
};

absl::Status ConfigureHost(const HostConfig& c, const ConfigureOptions& o, std::ostream& out);
absl::Status RevertHost(const HostConfig& c, const ConfigureOptions& o, std::ostream& out);

// The pure edits, exposed for tests. `path` only names the file in errors.
// Adds "warden" to the passwd and group lines that lack it; `added` gets their names.
std::string EditNsswitch(const std::string& text, std::vector<std::string>* added);
// Takes "warden" out of the lines of `databases` again.
std::string UneditNsswitch(const std::string& text, const std::vector<std::string>& databases);
// `text` with `block` as its managed block, at the top.
absl::StatusOr<std::string> WithManagedBlock(const std::string& path, const std::string& text,
                                             const std::string& block);
// `text` without its managed block (unchanged when it has none).
absl::StatusOr<std::string> WithoutManagedBlock(const std::string& path, const std::string& text);

}  // namespace warden
