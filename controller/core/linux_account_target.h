// Local accounts of enrolled hosts as rotation targets (rotation_policy.h, kind linux): the
// host's wardend sets the new password's hash in /etc/shadow and proves a password through the
// host's own PAM stack (daemon/local_password.h). The controller reaches the host through its
// task stream (host_tasks.h); a host that is not connected is "cannot be told", never a break.
#pragma once

#include "controller/core/host_tasks.h"
#include "controller/core/rotation.h"
#include "controller/store/host_store.h"

namespace warden {

class LinuxAccountTarget final : public CredentialTarget {
 public:
  LinuxAccountTarget(HostStore& hosts, HostTasks& tasks) : hosts_(hosts), tasks_(tasks) {}
  absl::Status Change(const RotationTargetPolicy& t, const SecretBytes* current,
                      const SecretBytes& next) override;
  absl::Status Verify(const RotationTargetPolicy& t, const SecretBytes& value) override;
  bool SetsWithoutCurrent(const RotationTargetPolicy&) const override { return true; }

 private:
  absl::Status RunOn(const RotationTargetPolicy& t, HostTask::Kind kind, const SecretBytes& value);
  HostStore& hosts_;
  HostTasks& tasks_;
};

// How long a host has to answer one task (a password hash takes well under a second).
inline constexpr std::chrono::seconds kHostTaskTimeout{30};

}  // namespace warden
