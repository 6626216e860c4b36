// The recording chunk format: what wardend sends (one LZ4 frame), what the controller keeps (one
// zstd frame), and what a host must not get through.
#include "common/recording.h"

#include <gtest/gtest.h>
#include <lz4frame.h>

#include <string>

namespace warden {
namespace {

v1::RecordingEvents Sample() {
  v1::RecordingEvents events;
  auto* out = events.add_events();
  out->set_offset_ns(5);
  out->set_output(std::string(100000, 'x') + "screen");
  events.add_events()->mutable_exec()->set_filename("/bin/ls");
  return events;
}

std::string Lz4(const std::string& raw, bool declare_size) {
  LZ4F_preferences_t prefs{};
  if (declare_size) prefs.frameInfo.contentSize = raw.size();
  std::string out(LZ4F_compressFrameBound(raw.size(), &prefs), '\0');
  const size_t n = LZ4F_compressFrame(out.data(), out.size(), raw.data(), raw.size(), &prefs);
  EXPECT_FALSE(LZ4F_isError(n));
  out.resize(n);
  return out;
}

TEST(RecordingFormat, ChunksAreOneLz4FrameThatDeclaresItsSizeAndRoundTrip) {
  auto packed = CompressEvents(Sample());
  ASSERT_TRUE(packed.ok());
  const std::string chunk = *packed;
  ASSERT_EQ(chunk.substr(0, 4), std::string("\x04\x22\x4d\x18", 4)) << "the LZ4 frame magic";
  EXPECT_LT(chunk.size(), 2000u) << "screen data compresses";
  auto back = DecompressEvents(chunk);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), Sample().SerializeAsString());
  // A chunk without events (the first one, announcing a session) too.
  auto empty = CompressEvents(v1::RecordingEvents());
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(DecompressEvents(*empty).ok());
}

// A host set to `recording_compression: none` sends the same frame format with stored blocks:
// the serialised events verbatim, read back by the same decoder.
TEST(RecordingFormat, AStoredChunkIsTheSameFrameFormatHoldingTheEventsVerbatim) {
  const std::string raw = Sample().SerializeAsString();
  auto stored = CompressEvents(Sample(), ChunkPacking::kStored);
  auto compressed = CompressEvents(Sample(), ChunkPacking::kLz4);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_TRUE(compressed.ok()) << compressed.status();
  ASSERT_EQ(stored->substr(0, 4), std::string("\x04\x22\x4d\x18", 4)) << "the LZ4 frame magic";
  EXPECT_NE(stored->find(raw), std::string::npos) << "the events' bytes as they are";
  EXPECT_GT(stored->size(), raw.size());
  EXPECT_LT(compressed->size(), raw.size() / 10);
  auto back = DecompressEvents(*stored);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), raw);
}

TEST(RecordingFormat, TheControllerKeepsChunksAsOneZstdFrameSmallerThanTheHostsLz4) {
  auto sent = CompressEvents(Sample());
  auto kept = PackForStorage(Sample().SerializeAsString());
  ASSERT_TRUE(sent.ok());
  ASSERT_TRUE(kept.ok());
  ASSERT_EQ(kept->substr(0, 4), std::string("\x28\xb5\x2f\xfd", 4)) << "the zstd frame magic";
  EXPECT_LT(kept->size(), sent->size());
  auto back = DecompressEvents(*kept);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), Sample().SerializeAsString());
}

TEST(RecordingFormat, MalformedChunksAreRefusedWithTheReason) {
  const std::string raw = Sample().SerializeAsString();
  const std::string good = Lz4(raw, true);
  auto refused = [](const std::string& chunk, const std::string& why) {
    auto r = DecompressEvents(chunk);
    ASSERT_FALSE(r.ok()) << why;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status().message();
  };
  refused("", "cut short");
  refused("not a frame at all", "neither an lz4 nor a zstd frame");
  refused(good.substr(0, good.size() - 3), "cut short (lz4)");
  refused(good + good, "not exactly one lz4 frame");
  // A frame that does not declare its size may not expand to anything.
  refused(Lz4(raw, false), "more than its lz4 frame declares");
  // One that declares more than a chunk may hold is refused before anything is allocated.
  refused(Lz4(std::string(kMaxChunkRaw + 1, 'a'), true), "expands to 4194305 bytes");
  // Bytes that decompress but are not events.
  refused(Lz4("\xff\xff\xff", true), "does not hold recording events");
}

TEST(RecordingFormat, AChunkRefusedMidFrameDoesNotSpoilTheNextOne) {
  // A frame that declares its size and breaks off mid-block, then an empty chunk (no events: a frame that
  // declares no size) from the same thread: the second is still read.
  const std::string good = Lz4(Sample().SerializeAsString(), true);
  ASSERT_FALSE(DecompressEvents(good.substr(0, good.size() / 2)).ok());
  auto empty = DecompressEvents(Lz4("", false));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->events_size(), 0);
  auto again = DecompressEvents(good);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->SerializeAsString(), Sample().SerializeAsString());
}

}  // namespace
}  // namespace warden
