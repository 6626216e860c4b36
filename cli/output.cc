#include "cli/output.h"

#include "common/strings.h"

namespace warden::cli {

std::string When(int64_t t) {
  if (t == 0) return "-";
  return FormatUtc(t, "%Y-%m-%d %H:%M:%SZ");
}

std::string In(int64_t seconds) {
  if (seconds <= 0) return "now";
  if (seconds < 120) return StrCat(seconds, "s");
  if (seconds < 7200) return StrCat(seconds / 60, "m");
  return StrCat(seconds / 3600, "h", (seconds % 3600) / 60, "m");
}

}  // namespace warden::cli
