#include "daemon/log.h"

#include "common/log.h"

namespace warden {
namespace {
const char* program = "wardend";
}  // namespace

void SetLogProgram(const char* name) { program = name; }

void LogLine(int priority, std::string_view msg) { WriteLogLine(program, priority, msg); }

}  // namespace warden
