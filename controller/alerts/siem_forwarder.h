// SIEM forwarding: every audit event and alert, as it is written, to each sink of the policy's
// `siem:` section (core/analytics_policy.h):
//   syslog   RFC 5424 messages over TCP or TLS, octet-counted framing (RFC 6587): facility
//            authpriv, severity crit/warning for alerts and info otherwise, MSGID the event's
//            name or call, the event's JSON as the message.
//   webhook  batches of JSON lines POSTed (Content-Type: application/x-ndjson); a 2xx answer
//            delivers the batch.
//   file     JSON lines appended and fdatasync'ed.
//
// At least once, nothing dropped: each sink follows the audit log itself (audit_tail.h) from a
// cursor persisted in <data_dir>/siem/<sink>.cursor once the sink has the events. A sink that is
// down is retried (1 s doubling to 30 s) and catches up from its cursor when it returns; the API
// never waits for a sink (the log is the queue, and it is on disk). TCP has no receipt: a syslog
// batch counts as delivered once the connection has stayed up kSyslogConfirmMs after it, and
// what was sent on a connection that then broke is sent again (duplicates, never gaps).
// A sink `lag_alert_events` behind, or with nothing delivered for `lag_alert_seconds` while
// behind, is alerted (siem.lag, once per outage; siem.caught_up when it has caught up).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controller/alerts/audit_tail.h"
#include "controller/core/analytics_policy.h"
#include "controller/core/audit_log.h"

namespace warden {

inline constexpr int kSyslogConfirmMs = 1000;

// Where one sink's events go. Send may block (bounded by its timeouts); it runs on the sink's
// own thread.
class SiemSink {
 public:
  virtual ~SiemSink() = default;
  virtual absl::Status Send(const std::vector<AuditLine>& batch) = 0;
  // How long the connection must stay up after a Send before what it sent counts as arrived
  // (0: a successful Send is a receipt).
  virtual int ConfirmMs() const { return 0; }
  // Whether everything sent has left this host (syslog: nothing waits in the socket's send
  // queue); what has not is not counted as delivered yet.
  virtual bool Drained() { return true; }
  // False once the connection is known to be broken: what was sent since the last
  // acknowledgement is sent again.
  virtual bool Healthy() { return true; }
  virtual void Disconnect() {}
};

absl::StatusOr<std::unique_ptr<SiemSink>> MakeSiemSink(const SiemSinkPolicy& p);
// An event as its syslog message (RFC 5424, without the octet count).
std::string SiemSyslogMessage(std::string_view json_line);

struct SiemSinkStats {
  std::string name;
  uint64_t delivered_seq = 0;  // the cursor
  uint64_t behind = 0;         // events written that it was not sent yet
  uint64_t sent = 0, failures = 0;
  std::string last_error;
};

class SiemForwarder {
 public:
  // One thread per sink. `audit` is followed through its file and receives the lag alerts.
  SiemForwarder(const SiemPolicy& policy, std::string audit_path, std::string cursor_dir,
                AuditLog& audit);
  ~SiemForwarder();  // stops the threads; cursors stay where delivery got to
  // REQUIRES: `cursor_dir` exists (Controller::StartAnalytics makes it).
  absl::Status Start();
  // Ends the threads (joined); Start is not called again. Idempotent; the destructor runs it.
  void Stop();
  // A line was written: the sinks read on at once (AuditLog::AddFollower).
  void Wake() {
    written_++;
    cv_.notify_all();
  }
  std::vector<SiemSinkStats> Stats();

 private:
  struct Sink;
  void Run(Sink& s);

  const SiemPolicy& policy_;
  const std::string audit_path_, cursor_dir_;
  AuditLog& audit_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<uint64_t> written_{0};  // lines the log has announced (Wake)
  std::vector<std::unique_ptr<Sink>> sinks_;
};

}  // namespace warden
