#include "daemon/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "common/strings.h"

namespace warden {

namespace {

// The fields of /proc/PID/stat after "pid (comm) " (comm may hold spaces and parentheses, so they
// are counted from the last ')'); empty when the process is gone. They point into `line`.
std::vector<std::string_view> StatFields(int64_t pid, std::string& line) {
  std::ifstream stat(StrCat("/proc/", pid, "/stat"));
  if (!std::getline(stat, line)) return {};
  const size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 > line.size()) return {};
  return StrSplit(std::string_view(line).substr(close + 2), ' ', false);
}

}  // namespace

uint64_t ProcessStartTicks(pid_t pid) {
  if (pid <= 0) return 0;
  std::string line;
  const std::vector<std::string_view> fields = StatFields(pid, line);
  int64_t start = 0;  // field 22 of stat, the 20th after the comm
  if (fields.size() < 20 || !ParseInt(fields[19], &start) || start < 0) return 0;
  return static_cast<uint64_t>(start);
}

std::vector<ProcessInfo> ListProcesses() {
  std::vector<ProcessInfo> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    int64_t pid = 0;
    if (!ParseInt(e->d_name, &pid)) continue;
    // "state ppid pgrp session tty_nr ..."
    std::string line;
    const std::vector<std::string_view> fields = StatFields(pid, line);
    int64_t ppid = 0, tty = 0;
    if (fields.size() < 5 || !ParseInt(fields[1], &ppid) || !ParseInt(fields[4], &tty)) continue;
    const uint64_t t = static_cast<uint64_t>(tty);
    out.push_back(ProcessInfo{static_cast<pid_t>(pid), static_cast<pid_t>(ppid),
                              t == 0 ? 0 : makedev((t >> 8) & 0xfff, (t & 0xff) | ((t >> 12) & 0xfff00))});
  }
  closedir(d);
  return out;
}

namespace {

// Appends the pids listed in /proc/PID/task/TID/children for every thread of `pid`.
void AppendChildren(pid_t pid, std::vector<pid_t>& out) {
  DIR* d = opendir(StrCat("/proc/", pid, "/task").c_str());
  if (!d) return;  // exited
  while (dirent* e = readdir(d)) {
    int64_t tid = 0;
    if (!ParseInt(e->d_name, &tid)) continue;
    const int fd = open(StrCat("/proc/", pid, "/task/", tid, "/children").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    close(fd);
    std::replace(text.begin(), text.end(), '\n', ' ');
    for (std::string_view field : StrSplit(text, ' ', true)) {
      int64_t child = 0;
      if (ParseInt(field, &child)) out.push_back(static_cast<pid_t>(child));
    }
  }
  closedir(d);
}

}  // namespace

std::vector<pid_t> ProcessTree(pid_t root) {
  std::vector<pid_t> out = {root};
  static const bool children_files = access("/proc/thread-self/children", R_OK) == 0;
  if (children_files) {
    for (size_t i = 0; i < out.size(); i++) AppendChildren(out[i], out);
    return out;
  }
  const std::vector<ProcessInfo> all = ListProcesses();
  for (size_t i = 0; i < out.size(); i++) {
    for (const ProcessInfo& p : all) {
      if (p.ppid == out[i]) out.push_back(p.pid);
    }
  }
  return out;
}

}  // namespace warden
