// The passwords of this host's local accounts, set and proven for the controller's rotation
// (docs/rotation.md, kind linux). Only the accounts the host's own config lists in
// `rotate_accounts` are touched: the host's admins decide which local passwords Warden owns.
//
// Setting: a new hash (libxcrypt's preferred method, yescrypt on Debian 12) replaces the
// account's second field of the shadow file, and the day of the change its third, under
// the lock lckpwdf takes (as passwd, useradd and chpasswd do), by writing a new file beside it and
// renaming it over the old one: a reader sees the old file or the new one, never half of one.
// Every other line, and every other field, stays byte for byte.
//
// Proving: the password must match the account's hash in the shadow file (else it is refused:
// a break), and then the host's PAM stack (`password_check_service`, default warden-verify; the
// package installs it as the system's common-auth and common-account) must let it log in,
// authentication then account management, with no fail delay (else the account cannot log in
// now, which is reported, not taken for a changed password).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace warden {

struct LocalPasswordTask {
  enum class Kind { kSet, kCheck };
  Kind kind = Kind::kCheck;
  std::string login;
  SecretBytes password;
};

// Sets `login`'s password in the shadow file at `shadow_path` (see above). `today`: days since
// the epoch. NOT_FOUND: no such line; DATA_LOSS: the file does not parse; FAILED_PRECONDITION:
// the account is locked (passwd -l: a new hash would unlock it); UNAVAILABLE: the password
// files stay locked. The file is left as it is on any error.
absl::Status SetShadowPassword(const std::string& shadow_path, std::string_view login,
                               const SecretBytes& password, int64_t today);

// OK: `password` is `login`'s (its hash in `shadow_path`) and PAM service `service` lets it log
// in. PERMISSION_DENIED: it is not the password (or the account is locked). FAILED_PRECONDITION:
// it is, but PAM refuses the login (an expired account, pam_faillock), or no such account.
absl::Status CheckLocalPassword(const std::string& shadow_path, const std::string& service,
                                std::string_view login, const SecretBytes& password);

class LocalPasswords {
 public:
  LocalPasswords(std::vector<std::string> rotate_accounts, std::string pam_service,
                 std::string shadow_path = "/etc/shadow")
      : allowed_(std::move(rotate_accounts)), pam_service_(std::move(pam_service)),
        shadow_path_(std::move(shadow_path)) {}
  // Runs one task of the controller. FAILED_PRECONDITION: the account is not one this host lets
  // Warden rotate.
  absl::Status Run(const LocalPasswordTask& task, int64_t now_unix) const;

 private:
  std::vector<std::string> allowed_;
  std::string pam_service_;
  std::string shadow_path_;
};

}  // namespace warden
