// Runs the detection rules (core/detection.h) on the audit log as it grows, and writes what
// they find back into it as alerts (which the alert pager and every SIEM sink then carry).
// Follows the log from a cursor persisted in <data_dir>/siem/detections.cursor: after a
// restart the log is first replayed up to the cursor to rebuild the rules' state, without
// alerting again; events past the cursor are evaluated as new. An alert is written before the
// cursor moves past its event (at least once). The change windows file is read again whenever
// it changes; a file that no longer parses keeps the windows it had and is alerted.
#pragma once

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controller/alerts/audit_tail.h"
#include "controller/core/audit_log.h"
#include "controller/core/detection.h"

namespace warden {

class DetectionRunner {
 public:
  DetectionRunner(Detector& detector, std::string audit_path, std::string cursor_path,
                  std::string windows_path, AuditLog& audit);
  ~DetectionRunner();
  // Reads the change windows (an unreadable or invalid file is an error: the controller does
  // not start on it), replays the log up to the cursor, and starts following it.
  absl::Status Start();
  // Ends the threads (joined); Start is not called again. Idempotent; the destructor runs it.
  void Stop();
  // A line was written: evaluated at once (AuditLog::AddFollower).
  void Wake() {
    written_++;
    cv_.notify_all();
  }

 private:
  absl::Status LoadWindows(bool at_start);
  void Run();

  Detector& detector_;
  const std::string audit_path_, cursor_path_, windows_path_;
  AuditLog& audit_;
  AuditCursor cursor_;
  std::vector<DetectedAlert> pending_;  // found, not yet written
  AuditCursor pending_end_;             // the event that raised them, consumed once written
  timespec windows_mtime_{};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<uint64_t> written_{0};  // lines the log has announced (Wake)
  std::thread thread_;
};

}  // namespace warden
