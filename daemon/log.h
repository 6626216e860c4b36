// wardend's log: common/log.h's WriteLogLine under the name "wardend" (one line per event,
// client-supplied text escaped).
#pragma once

#include <syslog.h>

#include <string_view>

namespace warden {

void LogLine(int priority, std::string_view msg);

}  // namespace warden
