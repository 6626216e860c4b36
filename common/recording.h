// The recording stream's chunk format, shared by wardend (writes), the controller (checks,
// stores, chains) and wardenctl (replays). A chunk's payload is one RecordingEvents message
// compressed as one zstd frame. Chunks are chained per session:
//   h_0 = SHA-256("warden-recording-v1" || session_id)
//   h_n = SHA-256(h_{n-1} || be64(n) || events_zstd of chunk n)
// and the chain is sealed by a signature over SealMessage() when the session ends.
#pragma once

#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"
#include "warden/v1/recording.pb.h"

namespace warden {

// The largest payload a chunk may carry once decompressed, and compressed.
inline constexpr size_t kMaxChunkRaw = 4 << 20;
inline constexpr size_t kMaxChunkCompressed = 4 << 20;

absl::StatusOr<Bytes> CompressEvents(const v1::RecordingEvents& events);
// REQUIRES nothing of `data`: untrusted bytes. Rejects anything but one zstd frame that declares
// its size, decompresses to at most kMaxChunkRaw and parses as RecordingEvents.
absl::StatusOr<v1::RecordingEvents> DecompressEvents(std::string_view data);

Bytes ChainStart(std::string_view session_id);
Bytes ChainNext(ByteSpan prev, uint64_t seq, std::string_view events_zstd);
// What the controller signs when a session's recording is complete.
std::string SealMessage(std::string_view session_id, uint64_t chunks, ByteSpan last_hash,
                        int64_t ended_unix_ns, uint64_t lost_bytes);

}  // namespace warden
