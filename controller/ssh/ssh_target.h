// Rotation targets of kind ssh (core/rotation_policy.h): an appliance, network device or any
// box that takes its admin's password over SSH and that Warden cannot run an agent on. libssh's
// client: the target's host key must be the pinned one before any password is sent; the
// password logs in with the "password" method; the change runs the target's change_command in
// an exec channel, handing it the current and the new password on stdin (never on a command
// line, which other users of the target could read).
#pragma once

#include "controller/core/rotation.h"

namespace warden {

class SshApplianceTarget final : public CredentialTarget {
 public:
  // Logs in with `current`, runs change_command with "CURRENT\nNEW\n" on its stdin; its exit
  // status 0 is a change. PERMISSION_DENIED when `current` is refused.
  absl::Status Change(const RotationTargetPolicy& t, const SecretBytes* current,
                      const SecretBytes& next) override;
  // OK, PERMISSION_DENIED (refused), UNAVAILABLE (no answer), FAILED_PRECONDITION (the host key
  // is not the pinned one: nothing was sent).
  absl::Status Verify(const RotationTargetPolicy& t, const SecretBytes& value) override;
  bool SetsWithoutCurrent(const RotationTargetPolicy&) const override { return false; }
};

}  // namespace warden
