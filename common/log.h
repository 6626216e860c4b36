// A service's log: one line per event on stderr. Under systemd (JOURNAL_STREAM set) each line
// carries its syslog priority as a "<N>" prefix, which journald turns into the entry's priority;
// otherwise it starts with a UTC timestamp and the program's name.
//
// The message is escaped with EscapeForLog as a whole, so whatever a client put into it (a user
// name, a hostname, a remote address) stays inside this one line.
#pragma once

#include <syslog.h>

#include <string_view>

namespace warden {

void WriteLogLine(std::string_view program, int priority, std::string_view msg);

}  // namespace warden
