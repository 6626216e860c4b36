// The hash chain over a session's recording chunks and the seal that closes it. It covers the
// compressed payload as bytes, whatever they hold (common/recording.h has the payload format),
// so the controller chains, seals and verifies recordings without decoding them:
//   h_0 = SHA-256("warden-recording-v1" || session_id)
//   h_n = SHA-256(h_{n-1} || be64(n) || events_zstd of chunk n)
// and the chain is sealed by a signature over SealMessage() when the session ends.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"

namespace warden {

Bytes ChainStart(std::string_view session_id);
Bytes ChainNext(ByteSpan prev, uint64_t seq, std::string_view events_zstd);
// What the controller signs when a session's recording is complete.
std::string SealMessage(std::string_view session_id, uint64_t chunks, ByteSpan last_hash,
                        int64_t ended_unix_ns, uint64_t lost_bytes);

}  // namespace warden
