// Sends alerts (audit events with "alert": true, core/alert_sink.h) to where a person is paged:
//   webhook  each alert POSTed as one JSON object (Content-Type: application/json) to a URL,
//            http or https (https checked against the system's CAs, or `webhook_ca`); a 2xx
//            answer is delivery; anything else is retried (1 s, 2 s, 4 s ... up to 5 tries).
//            Raise() only queues (up to 10,000 alerts; beyond that warnings are dropped before
//            critical alerts, counted and reported on stderr): a slow or dead receiver never
//            holds up an API call. Stopping sends what is queued with one try each.
//   syslog   each alert as one RFC 5424 message (facility authpriv; severity crit for
//            "critical", warning otherwise; the JSON as its message) to a local datagram socket
//            (/dev/log, or `syslog_socket`), sent by Raise() itself without blocking.
// The audit log stays the record of every alert; SIEM forwarding of every event, with persisted
// cursors, is siem_forwarder.h.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "controller/core/alert_sink.h"

namespace warden {

struct AlertConfig {
  std::string webhook;        // URL; empty: none
  std::string webhook_ca;     // PEM file of CAs for an https webhook (empty: the system's)
  bool syslog = false;
  std::string syslog_socket = "/dev/log";
};

class AlertForwarder final : public AlertSink {
 public:
  explicit AlertForwarder(AlertConfig config);
  // Delivers what is queued (each delivery still bounded by its retries), then stops.
  ~AlertForwarder() override;
  void Raise(const nlohmann::json& event) override;

  // An alert as the syslog message it becomes (RFC 5424).
  static std::string SyslogMessage(const nlohmann::json& event);

 private:
  void Run();
  absl::Status SendSyslog(const std::string& message);

  const AlertConfig config_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<nlohmann::json> queue_;
  uint64_t dropped_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace warden
