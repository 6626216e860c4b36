// The host's own login records (wtmp, utmp(5) records as glibc writes them): the logins that did
// not go through Warden, for the coverage KPI and the break-glass and bypass alerts. sshd writes
// a record for each session with a terminal; `login`, display managers and most terminal
// programs do too. A session without a terminal (ssh HOST COMMAND, sftp) leaves none.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/inventory.h"
#include "common/status.h"

namespace warden {

struct LoginRecord {
  std::string user, line, from;
  int64_t at_us = 0;
  int32_t pid = 0;
};

// The logins (USER_PROCESS records) among the whole records in `data`; `*consumed` is how many
// bytes those records take (a record cut at the end is left for the next read).
std::vector<LoginRecord> ParseLoginRecords(std::string_view data, size_t* consumed);

// Which of `records` to report: logins of `break_glass` accounts (kind break_glass) and of other
// privileged accounts of `inv` (kind bypass). Anyone else's login is no privileged session.
std::vector<HostLogin> ClassifyLogins(const std::vector<LoginRecord>& records, const Inventory& inv);

// Reads a login records file from where it left off. The place it has reached is kept in
// `cursor_path` (the file's inode and offset) once Commit is called, so what was read but not
// reported is read again after a restart. When the file is replaced (log rotation) or shrinks,
// reading starts at the new file's beginning. Without a cursor, the records already in the file
// are the host's past: reading starts at its end.
class LoginRecordReader {
 public:
  LoginRecordReader(std::string path, std::string cursor_path)
      : path_(std::move(path)), cursor_path_(std::move(cursor_path)) {}

  // The logins recorded since the last Commit (at most `max`; the rest on the next call). A
  // missing file is no logins.
  absl::StatusOr<std::vector<LoginRecord>> ReadNew(size_t max);
  // What the last ReadNew returned was reported: it is not read again.
  absl::Status Commit();

 private:
  absl::Status LoadCursor();

  const std::string path_, cursor_path_;
  bool loaded_ = false;
  ino_t ino_ = 0;
  uint64_t offset_ = 0;                // committed
  ino_t read_ino_ = 0;
  uint64_t read_offset_ = 0;           // reached by the last ReadNew
};

}  // namespace warden
