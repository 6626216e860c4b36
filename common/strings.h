// String helpers over std::string_view. (Debian's abseil is built with its own
// absl::string_view, which std::string_view does not convert to, so absl's string utilities
// are not used; absl::Status messages are always built as std::string.)
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/strings/string_view.h"

namespace warden {

namespace strings_internal {
inline void Append(std::string& out, std::string_view s) { out.append(s); }
inline void Append(std::string& out, const char* s) { out.append(s); }
inline void Append(std::string& out, const std::string& s) { out.append(s); }
inline void Append(std::string& out, char c) { out.push_back(c); }
#if !defined(ABSL_USES_STD_STRING_VIEW)
inline void Append(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
#endif
template <typename T, typename = std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, char> &&
                                                  !std::is_same_v<T, bool>>>
void Append(std::string& out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}
inline void Append(std::string& out, bool v) { out.append(v ? "true" : "false"); }
}  // namespace strings_internal

template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (strings_internal::Append(out, args), ...);
  return out;
}

template <typename... Args>
void StrAppend(std::string* out, const Args&... args) {
  (strings_internal::Append(*out, args), ...);
}

template <typename Container>
std::string StrJoin(const Container& items, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out.append(sep);
    strings_internal::Append(out, item);
    first = false;
  }
  return out;
}

// Splits on `sep`; at most `max_parts` parts (the last keeps the rest); empty parts dropped when
// `skip_empty`.
std::vector<std::string_view> StrSplit(std::string_view s, char sep, bool skip_empty,
                                       size_t max_parts = SIZE_MAX);

inline std::string_view StripSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <typename T>
bool ParseInt(std::string_view s, T* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty();
}

// "2026-11-24 09:40:50 UTC": a unix time in messages people read.
std::string UtcText(int64_t unix_seconds);
// `unix_seconds` in UTC through strftime's `format` (at most 31 characters of output).
std::string FormatUtc(int64_t unix_seconds, const char* format);

// `s` made safe for a one-line log entry: the backslash and every byte outside printable ASCII
// (0x20..0x7e) are written as \\, \n, \r, \t or \xNN. A field a client supplied can then
// neither end the line nor begin a new one with a forged "<N>" priority prefix or timestamp,
// and no terminal escape sequence reaches whoever reads the log.
std::string EscapeForLog(std::string_view s);

inline bool IsLowerAlpha(char c) { return c >= 'a' && c <= 'z'; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A SHA-256 fingerprint as people write it ("sha256:AB:CD:...", "abcd...") -> 64 lowercase hex
// digits; "" when it is not one.
std::string NormalizeSha256Fingerprint(std::string_view text);

}  // namespace warden
