#include "controller/api/recording_convert.h"

#include <gtest/gtest.h>

#include "common/recording.h"

namespace warden::testing {
namespace {

v1::RecordingChunk Upload(const v1::RecordingEvents& events) {
  v1::RecordingChunk c;
  c.set_session_id("s-1");
  c.set_seq(1);
  auto packed = CompressEvents(events);
  EXPECT_TRUE(packed.ok()) << packed.status().message();
  if (packed.ok()) c.set_events_zstd(packed->data(), packed->size());
  return c;
}

TEST(RecordingConvert, ProgramsAndAlertsAreIndexedFromTheEvents) {
  v1::RecordingEvents events;
  events.add_events()->set_output("$ ");
  v1::Exec* with_argv = events.add_events()->mutable_exec();
  with_argv->set_filename("/usr/bin/systemctl");
  with_argv->add_argv("systemctl");
  with_argv->add_argv("restart");
  with_argv->add_argv("nginx");
  // The kernel copied no argv (an exec with an empty argv): the file name stands for it.
  events.add_events()->mutable_exec()->set_filename("/usr/bin/true");
  v1::Alert* alert = events.add_events()->mutable_alert();
  alert->set_kind("redaction_limit");
  alert->set_message("3 lines typed without echo");
  v1::RecordingChunk in = Upload(events);
  in.mutable_session()->set_user("adm-alice");
  in.mutable_session()->set_grant_id("g-1");

  auto c = ChunkFromProto(in);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->commands, (std::vector<std::string>{"systemctl restart nginx", "/usr/bin/true"}));
  ASSERT_EQ(c->alerts.size(), 1u);
  EXPECT_EQ(c->alerts[0].kind, "redaction_limit");
  EXPECT_EQ(c->alerts[0].message, "3 lines typed without echo");
  // Stored (and chained) as one zstd frame of the same events, smaller than the host's LZ4 one.
  EXPECT_EQ(c->events_zstd.substr(0, 4), std::string("\x28\xb5\x2f\xfd", 4)) << "zstd magic";
  auto stored = DecompressEvents(c->events_zstd);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->SerializeAsString(), events.SerializeAsString());
  ASSERT_TRUE(c->session.has_value());
  EXPECT_EQ(c->session->grant_id, "g-1");
}

TEST(RecordingConvert, APayloadThatDoesNotDecodeIsRefused) {
  v1::RecordingEvents events;
  events.add_events()->set_output("hello");
  v1::RecordingChunk garbage = Upload(events);
  garbage.set_events_zstd("not zstd at all");
  EXPECT_EQ(ChunkFromProto(garbage).status().code(), absl::StatusCode::kInvalidArgument);
  v1::RecordingChunk truncated = Upload(events);
  truncated.mutable_events_zstd()->resize(truncated.events_zstd().size() - 3);
  EXPECT_EQ(ChunkFromProto(truncated).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RecordingConvert, APlaybackDescribesTheSessionOnItsFirstChunkAndItsEndOnItsLast) {
  RecordingArchive::Playback p;
  p.rec.session_id = "s-1";
  p.rec.host_id = "h-1";
  p.rec.user = "adm-alice";
  p.rec.grant_id = "g-1";
  p.rec.ended_ns = 42;
  p.rec.lost_bytes = 7;
  for (uint64_t seq : {1, 2}) p.chunks.push_back({seq, Bytes{uint8_t(seq)}, Bytes(32, 0)});
  std::vector<v1::RecordingChunk> out = PlaybackToProto(p);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].session().host_id(), "h-1");
  EXPECT_EQ(out[0].session().grant_id(), "g-1");
  EXPECT_FALSE(out[0].final());
  EXPECT_FALSE(out[1].has_session());
  EXPECT_TRUE(out[1].final());
  EXPECT_EQ(out[1].ended_unix_ns(), 42);
  EXPECT_EQ(out[1].lost_bytes(), 7u);
  p.rec.ended_ns = 0;
  EXPECT_FALSE(PlaybackToProto(p).back().final()) << "a live session goes on";
}

}  // namespace
}  // namespace warden::testing
