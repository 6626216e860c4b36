// Rotation targets of kind ldap (core/rotation_policy.h): a directory account (a service
// account in OpenLDAP, 389-DS or any server with the password modify extended operation, RFC
// 3062) that changes its own password. libldap: over ldaps://, or ldap:// with StartTLS, the
// server's certificate checked (against `ca_file`, or the system's CAs) before the password is
// sent; proven by a simple bind as the account (what `ldapwhoami -x -D DN` does).
#pragma once

#include "controller/core/rotation.h"
#include "controller/core/vault.h"

namespace warden {

class LdapAccountTarget final : public CredentialTarget {
 public:
  // Binds as the account with `current`, then asks the server to change its password from
  // `current` to `next` (password modify, with the old password: the server checks it too).
  absl::Status Change(const RotationTargetPolicy& t, const SecretBytes* current,
                      const SecretBytes& next) override;
  // OK, PERMISSION_DENIED (invalid credentials), UNAVAILABLE (no answer, TLS refused).
  absl::Status Verify(const RotationTargetPolicy& t, const SecretBytes& value) override;
  bool SetsWithoutCurrent(const RotationTargetPolicy&) const override { return false; }
};

// Rotation targets of kind ad: an Active Directory account (Samba AD or Windows), whose password
// is the write-only attribute unicodePwd (the password in double quotes, UTF-16LE), written only
// over an encrypted connection. The connection and its TLS checks are kind ldap's.
//  - Without `admin` the account changes its own password, bound as itself: unicodePwd's old
//    value deleted and the new one added in one modify, so the DC checks the old one and applies
//    its password policy (history, complexity, minimum age). This is how Warden's own bind
//    account is rotated (Vault's ad/rotate-root).
//  - With `admin: PATH` (a kind ad target on the same server, e.g. Warden's bind account) Warden
//    binds as that account with its vaulted password and replaces unicodePwd: an administrative
//    reset, which needs the "Reset Password" right on the account and not its current password.
class AdAccountTarget final : public CredentialTarget {
 public:
  explicit AdAccountTarget(Vault& vault) : vault_(vault) {}
  absl::Status Change(const RotationTargetPolicy& t, const SecretBytes* current,
                      const SecretBytes& next) override;
  // A simple bind as the account, like kind ldap's.
  absl::Status Verify(const RotationTargetPolicy& t, const SecretBytes& value) override;
  bool SetsWithoutCurrent(const RotationTargetPolicy& t) const override {
    return !t.admin_path.empty();
  }

 private:
  Vault& vault_;
};

// unicodePwd's value for `password` (UTF-8): the password in double quotes, as UTF-16LE.
// INVALID_ARGUMENT when `password` is not UTF-8.
absl::StatusOr<SecretBytes> UnicodePwd(const SecretBytes& password);

}  // namespace warden
