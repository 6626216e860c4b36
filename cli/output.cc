#include "cli/output.h"

#include <ctime>

#include "common/strings.h"

namespace warden::cli {

std::string When(int64_t t) {
  if (t == 0) return "-";
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string In(int64_t seconds) {
  if (seconds <= 0) return "now";
  if (seconds < 120) return StrCat(seconds, "s");
  if (seconds < 7200) return StrCat(seconds / 60, "m");
  return StrCat(seconds / 3600, "h", (seconds % 3600) / 60, "m");
}

}  // namespace warden::cli
