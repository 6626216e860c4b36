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
  // Marks the token used; returns false if it already was (single use, race-free).
  virtual absl::StatusOr<bool> UseJoinToken(std::string_view hash, int64_t at,
                                            std::string_view host_id) = 0;

  virtual absl::Status InsertHost(const HostRow& h) = 0;
  virtual absl::StatusOr<std::optional<HostRow>> GetHost(std::string_view id) = 0;
  // The host (kind host: wardend, never a gateway) most recently enrolled as `hostname`, if any.
  virtual absl::StatusOr<std::optional<HostRow>> FindHostByName(std::string_view hostname) = 0;
  virtual absl::Status SetHostCertExpiry(std::string_view id, int64_t expires) = 0;
  // Every enrolled host and gateway, by hostname.
  virtual absl::StatusOr<std::vector<HostRow>> ListHosts() = 0;
};

}  // namespace warden
