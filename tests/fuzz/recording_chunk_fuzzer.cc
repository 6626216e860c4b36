// Fuzzes the controller's decoder of recording chunks from hosts (and wardenctl's, replaying
// what the controller stored): any bytes are refused or decode to events within the size bound,
// and what decodes survives a round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/recording.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto events = warden::DecompressEvents(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!events.ok()) return 0;
  if (events->ByteSizeLong() > warden::kMaxChunkRaw) __builtin_trap();
  auto packed = warden::CompressEvents(*events);
  if (!packed.ok()) __builtin_trap();
  auto again = warden::DecompressEvents(*packed);
  if (!again.ok() || again->SerializeAsString() != events->SerializeAsString()) __builtin_trap();
  // What the controller keeps of an accepted chunk replays as the same events.
  auto kept = warden::PackForStorage(*events);
  if (!kept.ok()) __builtin_trap();
  auto replayed = warden::DecompressEvents(*kept);
  if (!replayed.ok() || replayed->SerializeAsString() != events->SerializeAsString())
    __builtin_trap();
  return 0;
}
