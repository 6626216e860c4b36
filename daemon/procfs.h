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

// When process `pid` started (/proc/PID/stat's starttime, in clock ticks since boot): with the pid,
// it names one process, not whichever reuses the number later. 0 when there is no such process.
uint64_t ProcessStartTicks(pid_t pid);

// `root` and its descendants as /proc shows them now, parents before children (a process that
// exits meanwhile is left out). It runs on every login, so it reads only the tree's own
// /proc/PID/task/TID/children files, not every process of the host; on a kernel without them
// (CONFIG_PROC_CHILDREN) it falls back to ListProcesses().
std::vector<pid_t> ProcessTree(pid_t root);

}  // namespace warden
