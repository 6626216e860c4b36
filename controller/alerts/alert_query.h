// `wardenctl alerts`: the alerts in the audit log (events with "alert": true), read from the
// log file itself so that nothing but the log has to be kept.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "controller/core/identity.h"
#include "controller/core/policy.h"

namespace warden {

struct AlertQuery {
  uint64_t after_seq = 0;
  int64_t since_unix = 0;
  std::string severity;  // "critical" or "warning": those only (empty: all)
  size_t limit = 1000;   // the newest this many; following (after_seq set): the oldest, and
                         // last_seq is the last of them
};

struct AlertPage {
  std::vector<nlohmann::json> alerts;  // oldest first
  uint64_t last_seq = 0;               // the last line read
};

// For admins and recording viewers (their groups in `policy`).
absl::StatusOr<AlertPage> ListAlerts(const Identity& who, const Policy& policy,
                                     const std::string& audit_path, const AlertQuery& q);

// What an alert is called: its rule's name, or its event's.
std::string AlertName(const nlohmann::json& alert);
// One line about it: the rule's summary, or the event's message, error or path.
std::string AlertSummary(const nlohmann::json& alert);

}  // namespace warden
