#include "controller/core/linux_account_target.h"

#include "common/strings.h"

namespace warden {

absl::Status LinuxAccountTarget::RunOn(const RotationTargetPolicy& t, HostTask::Kind kind,
                                       const SecretBytes& value) {
  ASSIGN_OR_RETURN(std::optional<HostRow> host, hosts_.FindHostByName(t.host));
  if (!host)
    return absl::FailedPreconditionError(
        StrCat("no enrolled host is named ", t.host, " (wardenctl host token create --hostname ",
               t.host, ", then wardend enroll on it)"));
  HostTask task{kind, t.user, SecretBytes(value.span())};
  return tasks_.Run(host->id, std::move(task), kHostTaskTimeout);
}

absl::Status LinuxAccountTarget::Change(const RotationTargetPolicy& t, const SecretBytes*,
                                        const SecretBytes& next) {
  return RunOn(t, HostTask::Kind::kSetPassword, next);
}

absl::Status LinuxAccountTarget::Verify(const RotationTargetPolicy& t, const SecretBytes& value) {
  return RunOn(t, HostTask::Kind::kCheckPassword, value);
}

}  // namespace warden
