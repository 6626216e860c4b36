// Where alerts go besides the audit log: an audit event with "alert": true is also handed to
// the controller's AlertSink (controller/alerts/alert_forwarder.h: a JSON webhook and syslog).
// The audit log stays the record; a sink is the page.
#pragma once

#include <nlohmann/json.hpp>

namespace warden {

class AlertSink {
 public:
  virtual ~AlertSink() = default;
  // `event` as the audit log wrote it (with its seq). "severity" is "critical" or "warning"
  // (absent: warning). Must not block: called on the path of API calls.
  virtual void Raise(const nlohmann::json& event) = 0;
};

}  // namespace warden
