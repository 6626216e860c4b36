// Reading the audit log as it grows, from a cursor that survives restarts: how the SIEM
// forwarder and the detection rules follow the event stream without holding up the calls that
// write it. The log file is the queue: nothing is buffered in memory that it does not hold.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace warden {

// A position in the log: the last line consumed and the byte just after it.
struct AuditCursor {
  uint64_t seq = 0;
  uint64_t offset = 0;
};

struct AuditLine {
  uint64_t seq = 0;
  std::string text;  // the JSON, without its newline
  AuditCursor end;   // the cursor once this line is consumed
};

class AuditTail {
 public:
  explicit AuditTail(std::string path) : path_(std::move(path)) {}

  // Up to `max_lines` complete lines after `from` (a line still being written waits for its
  // newline). If the file at from.offset does not go on with seq from.seq + 1 (the log was
  // replaced or restored), the file is read from its start and lines up to from.seq skipped.
  absl::StatusOr<std::vector<AuditLine>> Read(const AuditCursor& from, size_t max_lines);

 private:
  absl::StatusOr<std::vector<AuditLine>> ReadAt(const AuditCursor& from, size_t max_lines,
                                               bool* continues);
  const std::string path_;
};

// A cursor file ("SEQ OFFSET\n"): absent means the log's start. Saved atomically.
absl::StatusOr<AuditCursor> LoadCursor(const std::string& path);
absl::Status SaveCursor(const std::string& path, const AuditCursor& c);

}  // namespace warden
