#include "common/strings.h"

#include <ctime>

namespace warden {

// Out of line on purpose: inlined into callers, GCC 12 reports a false -Warray-bounds in the
// vector's growth path.
std::vector<std::string_view> StrSplit(std::string_view s, char sep, bool skip_empty,
                                       size_t max_parts) {
  std::vector<std::string_view> out;
  while (true) {
    if (out.size() + 1 >= max_parts) {
      if (!(skip_empty && s.empty())) out.push_back(s);
      break;
    }
    const size_t pos = s.find(sep);
    std::string_view part = s.substr(0, pos);
    if (!(skip_empty && part.empty())) out.push_back(part);
    if (pos == std::string_view::npos) break;
    s.remove_prefix(pos + 1);
    if (skip_empty) {
      while (!s.empty() && s.front() == sep) s.remove_prefix(1);
    }
  }
  return out;
}

std::string UtcText(int64_t unix_seconds) {
  char buf[32];
  const time_t tt = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&tt, &tm));
  return buf;
}

}  // namespace warden
