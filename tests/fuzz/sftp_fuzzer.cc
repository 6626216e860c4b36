// Fuzzes the gateway's SFTP watch (gateway/session_text.h SftpWatcher) with both directions of a
// channel: each chunk starts with a byte whose high bit says server -> client and whose low bits
// give its length. Invariants: no action has an empty argv, and paths are cut to 4096 bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/session_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  warden::SftpWatcher w;
  auto check = [](const std::vector<warden::SftpWatcher::Action>& actions) {
    for (const auto& a : actions) {
      if (a.argv.empty()) __builtin_trap();
      for (const auto& s : a.argv) {
        if (s.size() > 4096) __builtin_trap();
      }
    }
  };
  while (!in.empty()) {
    const uint8_t head = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    const size_t n = std::min<size_t>(head & 0x7f, in.size());
    check(head & 0x80 ? w.FromServer(in.substr(0, n)) : w.FromClient(in.substr(0, n)));
    in.remove_prefix(n);
  }
  check(w.Close());
  return 0;
}
