#include "common/duration.h"

#include "common/strings.h"

namespace warden {

absl::StatusOr<int64_t> ParseDuration(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty duration");
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && IsDigit(text[j])) j++;
    if (j == i || j == text.size()) {
      return absl::InvalidArgumentError(StrCat("bad duration \"", text,
                                                     "\"; use e.g. 90s, 30m, 4h, 1h30m, 2d"));
    }
    int64_t n = 0;
    if (!ParseInt(text.substr(i, j - i), &n) || n > 100000000) {
      return absl::InvalidArgumentError(StrCat("duration \"", text, "\" is too large"));
    }
    switch (text[j]) {
      case 's': total += n; break;
      case 'm': total += n * 60; break;
      case 'h': total += n * 3600; break;
      case 'd': total += n * 86400; break;
      default:
        return absl::InvalidArgumentError(StrCat("bad duration unit in \"", text,
                                                       "\"; use s, m, h or d"));
    }
    i = j + 1;
  }
  return total;
}

std::string FormatDuration(int64_t s) {
  std::string out;
  if (s >= 86400 && s % 86400 == 0) return StrCat(s / 86400, "d");
  if (s >= 3600) StrAppend(&out, s / 3600, "h");
  if (s % 3600 >= 60) StrAppend(&out, (s % 3600) / 60, "m");
  if (s % 60 || out.empty()) StrAppend(&out, s % 60, "s");
  return out;
}

}  // namespace warden
