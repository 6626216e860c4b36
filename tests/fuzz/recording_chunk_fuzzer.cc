// Fuzzes the controller's decoder of recording chunks from hosts (and wardenctl's, replaying
// what the controller stored): any bytes are refused or decode to events within the size bound,
// and what decodes survives a round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/recording.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto unpacked = warden::UnpackEvents(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!unpacked.ok()) return 0;
  const auto& events = unpacked->events;
  if (unpacked->raw.size() > warden::kMaxChunkRaw) __builtin_trap();
  auto packed = warden::CompressEvents(events);
  if (!packed.ok()) __builtin_trap();
  auto again = warden::DecompressEvents(*packed);
  if (!again.ok() || again->SerializeAsString() != events.SerializeAsString()) __builtin_trap();
  // What the controller keeps of an accepted chunk (the bytes the frame held) replays as the same
  // events.
  auto kept = warden::PackForStorage(unpacked->raw);
  if (!kept.ok()) __builtin_trap();
  auto replayed = warden::DecompressEvents(*kept);
  if (!replayed.ok() || replayed->SerializeAsString() != events.SerializeAsString())
    __builtin_trap();
  return 0;
}
