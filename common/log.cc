#include "common/log.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>

#include "common/strings.h"

namespace warden {

void WriteLogLine(std::string_view program, int priority, std::string_view msg) {
  static std::mutex mu;
  const bool journal = getenv("JOURNAL_STREAM") != nullptr;
  const std::string line = EscapeForLog(msg);
  std::lock_guard lock(mu);
  if (journal) {
    fprintf(stderr, "<%d>%s\n", priority, line.c_str());
  } else {
    char ts[32];
    const time_t now = time(nullptr);
    struct tm tm {};
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    fprintf(stderr, "%s %.*s: %s\n", ts, static_cast<int>(program.size()), program.data(),
            line.c_str());
  }
  fflush(stderr);
}

}  // namespace warden
