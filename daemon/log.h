// wardend's log (and warden-sshgw's, which shares its controller link): common/log.h's
// WriteLogLine under the name "wardend" (one line per event, client-supplied text escaped).
#pragma once

#include <syslog.h>

#include <string_view>

namespace warden {

void LogLine(int priority, std::string_view msg);
// The name log lines carry; call before any thread starts.
void SetLogProgram(const char* name);

}  // namespace warden
