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

std::string FormatUtc(int64_t unix_seconds, const char* format) {
  char buf[32];
  const time_t tt = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  if (strftime(buf, sizeof buf, format, gmtime_r(&tt, &tm)) == 0) return "";
  return buf;
}

std::string UtcText(int64_t unix_seconds) { return FormatUtc(unix_seconds, "%Y-%m-%d %H:%M:%S UTC"); }

std::string EscapeForLog(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out.push_back(ch);
        } else {
          out.append("\\x");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        }
    }
  }
  return out;
}

std::string NormalizeSha256Fingerprint(std::string_view text) {
  if (text.substr(0, 7) == "sha256:" || text.substr(0, 7) == "SHA256:") text.remove_prefix(7);
  std::string out;
  for (char c : text) {
    if (c == ':') continue;
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!IsDigit(c) && !(c >= 'a' && c <= 'f')) return "";
    out.push_back(c);
  }
  return out.size() == 64 ? out : "";
}

}  // namespace warden
