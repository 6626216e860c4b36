// wardend's log: one line per event on stderr. Under systemd (JOURNAL_STREAM set) each line
// carries its syslog priority as a "<N>" prefix, which journald turns into the entry's priority.
#pragma once

#include <syslog.h>

#include <string_view>

namespace warden {

void LogLine(int priority, std::string_view msg);

}  // namespace warden
