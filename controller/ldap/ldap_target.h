// Rotation targets of kind ldap (core/rotation_policy.h): a directory account (a service
// account in OpenLDAP, 389-DS or any server with the password modify extended operation, RFC
// 3062) that changes its own password. libldap: over ldaps://, or ldap:// with StartTLS, the
// server's certificate checked (against `ca_file`, or the system's CAs) before the password is
// sent; proven by a simple bind as the account (what `ldapwhoami -x -D DN` does).
#pragma once

#include "controller/core/rotation.h"

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

}  // namespace warden
