// Prometheus metrics of the controller, in the text exposition format, on a listener of their own
// (controller.yaml `metrics: {listen: HOST:PORT}`; plain HTTP, GET /metrics; loopback by default
// in the examples: put it behind the scraper's network, not the operators').
//
//   warden_api_requests_total{call,code}    API calls by outcome (from the audit log's outcomes)
//   warden_audit_events_total{event}        domain events written (grants' recordings started
//                                           and sealed, brokered sessions opened, rotations...)
//   warden_alerts_total{name,severity}      alerts written, by rule (or event)
//   warden_audit_last_seq                   the audit log's last line
//   warden_grants_active                    grants live now
//   warden_siem_sink_behind_events{sink}    events written that the sink does not have yet
//   warden_siem_sink_sent_total{sink}       events sent (again after a failure: counted again)
//   warden_siem_sink_failures_total{sink}
//   warden_siem_sink_up{sink}               1 while its last attempt succeeded
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>

#include "common/status.h"
#include "controller/core/audit_log.h"

namespace httplib {
class Server;
}

namespace warden {

class Controller;

// Counters fed by the audit log's followers (AuditLog::AddFollower). Thread-safe.
class Metrics {
 public:
  void Count(const AuditLog::Written& w);
  // The counters, then the gauges read from `c` now.
  std::string Render(Controller& c);

 private:
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> calls_;  // call, code
  std::map<std::string, uint64_t> events_;
  std::map<std::pair<std::string, std::string>, uint64_t> alerts_;  // name, severity
};

class MetricsServer {
 public:
  explicit MetricsServer(Controller& c);
  ~MetricsServer();
  // Listens on `listen` (HOST:PORT; port 0: any) and serves on a thread of its own.
  absl::Status Start(const std::string& listen);
  int port() const { return port_; }

 private:
  Controller& c_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace warden
