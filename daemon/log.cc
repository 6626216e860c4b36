#include "daemon/log.h"

#include "common/log.h"

namespace warden {

void LogLine(int priority, std::string_view msg) { WriteLogLine("wardend", priority, msg); }

}  // namespace warden
