#include "daemon/procfs.h"

#include <dirent.h>
#include <sys/sysmacros.h>

#include <fstream>
#include <string>

#include "common/strings.h"

namespace warden {

std::vector<ProcessInfo> ListProcesses() {
  std::vector<ProcessInfo> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    int64_t pid = 0;
    if (!ParseInt(e->d_name, &pid)) continue;
    std::ifstream stat(StrCat("/proc/", pid, "/stat"));
    std::string line;
    if (!std::getline(stat, line)) continue;
    // "pid (comm) state ppid pgrp session tty_nr ...": comm may hold spaces and parentheses, so
    // the fields are counted from the last ')'.
    const size_t close = line.rfind(')');
    if (close == std::string::npos || close + 2 > line.size()) continue;
    const std::string rest = line.substr(close + 2);
    auto fields = StrSplit(rest, ' ', false);
    int64_t ppid = 0, tty = 0;
    if (fields.size() < 5 || !ParseInt(fields[1], &ppid) || !ParseInt(fields[4], &tty)) continue;
    const uint64_t t = static_cast<uint64_t>(tty);
    out.push_back(ProcessInfo{static_cast<pid_t>(pid), static_cast<pid_t>(ppid),
                              t == 0 ? 0 : makedev((t >> 8) & 0xfff, (t & 0xff) | ((t >> 12) & 0xfff00))});
  }
  closedir(d);
  return out;
}

}  // namespace warden
