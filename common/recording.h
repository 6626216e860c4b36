// The recording stream's chunk format, shared by wardend (writes), the controller (checks,
// stores, chains) and wardenctl (replays). A chunk's payload is one RecordingEvents message
// compressed as one LZ4 frame (chunks recorded before LZ4: one zstd frame; both are read). The
// proto and store fields still say events_zstd. The controller keeps each chunk as one zstd
// frame and chains it per session (common/recording_chain.h) over those bytes, so a chunk, once
// stored, is never recompressed.
#pragma once

#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/recording_chain.h"
#include "common/status.h"
#include "warden/v1/recording.pb.h"

namespace warden {

// The largest payload a chunk may carry once decompressed, and compressed.
inline constexpr size_t kMaxChunkRaw = 4 << 20;
inline constexpr size_t kMaxChunkCompressed = 4 << 20;

// How a host packs a chunk's events into its LZ4 frame.
enum class ChunkPacking {
  kLz4,     // compressed: about a third of the bytes, at ~0.8 s of CPU per 512 MiB of screen
  kStored,  // stored blocks: the bytes as they are (the same frame format), at the cost of a copy
};
// One LZ4 frame of the serialised events (a chunk's payload, RecordingChunk.events_zstd): what a
// host sends, cheap on the host's cores while a terminal floods.
absl::StatusOr<std::string> CompressEvents(const v1::RecordingEvents& events,
                                           ChunkPacking packing = ChunkPacking::kLz4);
// One zstd frame of serialised events (`raw`, as UnpackEvents gives them): what the controller
// keeps, a quarter smaller than the host's LZ4 for screen text, at a cost paid on the
// controller's cores instead of the session's.
absl::StatusOr<std::string> PackForStorage(std::string_view raw);
// A chunk's events, and their serialised form as the frame held it.
struct UnpackedEvents {
  std::string raw;
  v1::RecordingEvents events;
};
// REQUIRES nothing of `data`: untrusted bytes. Rejects anything but one LZ4 or zstd frame that
// declares its size, decompresses to at most kMaxChunkRaw and parses as RecordingEvents.
absl::StatusOr<UnpackedEvents> UnpackEvents(std::string_view data);
// UnpackEvents' events alone.
absl::StatusOr<v1::RecordingEvents> DecompressEvents(std::string_view data);

}  // namespace warden
