#include "daemon/log.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace warden {

void LogLine(int priority, std::string_view msg) {
  static std::mutex mu;
  static const bool journal = getenv("JOURNAL_STREAM") != nullptr;
  std::lock_guard lock(mu);
  if (journal) {
    fprintf(stderr, "<%d>%.*s\n", priority, static_cast<int>(msg.size()), msg.data());
  } else {
    char ts[32];
    const time_t now = time(nullptr);
    struct tm tm {};
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    fprintf(stderr, "%s wardend: %.*s\n", ts, static_cast<int>(msg.size()), msg.data());
  }
  fflush(stderr);
}

}  // namespace warden
