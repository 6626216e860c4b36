// The processes /proc shows now, with the fields of /proc/PID/stat the recorder needs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace warden {

struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  dev_t tty = 0;  // the controlling terminal's device number, 0 for none
};

std::vector<ProcessInfo> ListProcesses();

}  // namespace warden
