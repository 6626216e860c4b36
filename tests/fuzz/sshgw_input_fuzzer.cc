// Fuzzes what warden-sshgw parses itself (gateway/session_text.h): the first line of the input is
// an operator's SSH user name, the rest alternates target output and typed input in chunks (a
// leading byte: its length and direction). Invariants: a parsed user name has a principal and at
// most one '@'; a redacted line's bytes never appear as typed input; redacted byte counts add up
// to the line's length.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/session_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  auto user = warden::ParseBrokerUser(in.substr(0, nl));
  if (user.ok() && (user->principal.empty() || user->target.find('@') != std::string::npos))
    __builtin_trap();
  if (nl == std::string_view::npos) return 0;
  in.remove_prefix(nl + 1);
  warden::InputRecorder rec("redact");
  uint32_t lines = 0, counted = 0;
  while (!in.empty()) {
    const uint8_t head = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    const size_t n = std::min<size_t>(head & 0x7f, in.size());
    const std::string_view chunk = in.substr(0, n);
    in.remove_prefix(n);
    if (head & 0x80) {
      rec.Output(chunk);
      continue;
    }
    size_t seen = 0;
    for (const auto& ev : rec.Input(chunk, &lines)) {
      if (const auto* r = std::get_if<warden::InputRedacted>(&ev)) {
        counted += r->bytes;
        seen += r->bytes;
      } else if (const auto* l = std::get_if<warden::RedactedLine>(&ev)) {
        if (l->bytes != counted || l->number != lines) __builtin_trap();
        counted = 0;
        seen += 1;  // the line's end
      } else if (const auto* t = std::get_if<warden::TerminalInput>(&ev)) {
        seen += t->data.size();
      }
    }
    // Every typed byte is either kept or counted, never both, never lost.
    if (seen != chunk.size()) __builtin_trap();
  }
  return 0;
}
