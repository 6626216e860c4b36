// Enrolled hosts and the one-time join tokens that enroll them.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "controller/store/transaction.h"
#include "controller/store/types.h"

namespace warden {

class HostStore : public virtual TransactionalStore {
 public:
  virtual absl::Status InsertJoinToken(const JoinTokenRow& t) = 0;
  virtual absl::StatusOr<std::optional<JoinTokenRow>> GetJoinToken(std::string_view hash) = 0;
  // Counts one more use of the token; returns false if it has none left (race-free).
  virtual absl::StatusOr<bool> UseJoinToken(std::string_view hash, int64_t at,
                                            std::string_view host_id) = 0;

  virtual absl::Status InsertHost(const HostRow& h) = 0;
  virtual absl::StatusOr<std::optional<HostRow>> GetHost(std::string_view id) = 0;
  // The host (kind host: wardend, never a gateway) most recently enrolled as `hostname`, if any.
  virtual absl::StatusOr<std::optional<HostRow>> FindHostByName(std::string_view hostname) = 0;
  virtual absl::Status SetHostCertExpiry(std::string_view id, int64_t expires) = 0;
  // Every enrolled host and gateway that was not replaced, by hostname.
  virtual absl::StatusOr<std::vector<HostRow>> ListHosts() = 0;
  // Marks every other current host of `hostname` and `kind` replaced by `by`: how many.
  virtual absl::StatusOr<int> ReplaceHosts(std::string_view hostname, std::string_view kind,
                                           std::string_view by) = 0;
};

}  // namespace warden
