// Fuzzes pam_warden's decoder of wardend's replies (it runs inside sshd): any bytes must decode
// or be refused, never read out of bounds, and always leave NUL-terminated, control-free text.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/agent_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  warden_agent_reply r;
  if (warden_agent_decode_reply(data, size, &r) != 0) return 0;
  if (r.verdict < WARDEN_VERDICT_UNSPECIFIED || r.verdict > WARDEN_VERDICT_HOLD) __builtin_trap();
  const size_t n = strnlen(r.message, sizeof r.message);
  if (n == sizeof r.message) __builtin_trap();
  for (size_t i = 0; i < n; i++) {
    if (static_cast<unsigned char>(r.message[i]) < 0x20) __builtin_trap();
  }
  if (strnlen(r.session_id, sizeof r.session_id) == sizeof r.session_id) __builtin_trap();
  // Whatever it said, the encoders round-trip its session id into a well-formed frame.
  uint8_t frame[256];
  const size_t len = warden_agent_encode_session_close(frame, sizeof frame, r.session_id);
  if (len < 4 || (static_cast<size_t>(frame[2]) << 8 | frame[3]) + 4 != len) __builtin_trap();
  return 0;
}
