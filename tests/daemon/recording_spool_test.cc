#include <gtest/gtest.h>

#include "common/recording.h"
#include "common/strings.h"
#include "daemon/proto_convert.h"
#include "daemon/recording_spool.h"

namespace warden {
namespace {

RecordingEvent Output(const std::string& data) {
  RecordingEvent ev;
  ev.kind = TerminalOutput{data};
  return ev;
}

// What the controller reads: the chunk's payload decoded by common/recording.h.
v1::RecordingEvents Events(const RecordingChunk& c) {
  auto events = DecompressEvents(c.events_zstd);
  EXPECT_TRUE(events.ok()) << events.status().message();
  return events.ok() ? *events : v1::RecordingEvents();
}

SessionInfo Info() {
  SessionInfo info;
  info.user = "adm-alice";
  info.tty = "pts/3";
  return info;
}

TEST(RecordingSpoolTest, TheSessionIsAnnouncedAtOnceThenEventsBecomeSequencedChunks) {
  RecordingSpool spool(EncodeRecordingEvents);
  spool.Open("s-1", Info(), 1000);
  std::vector<RecordingChunk> first = spool.Next(0);
  ASSERT_EQ(first.size(), 1u) << "the session is announced before any output";
  EXPECT_EQ(first[0].seq, 1u);
  EXPECT_EQ(first[0].session->user, "adm-alice");
  EXPECT_EQ(Events(first[0]).events_size(), 0);
  spool.Add("s-1", 1500, {}, Output("hello"));
  EXPECT_TRUE(spool.Next(0).empty()) << "cut before the interval elapsed";
  spool.Flush(1500 + 200'000'000);
  spool.Add("s-1", 300'000'000, {}, Output(" world"));
  spool.Close("s-1", 400'000'000, 1'800'000'000'000'000'000, {});
  std::vector<RecordingChunk> chunks = spool.Next(0);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].seq, 2u);
  EXPECT_FALSE(chunks[0].session.has_value());
  EXPECT_EQ(Events(chunks[0]).events(0).output(), "hello");
  EXPECT_EQ(Events(chunks[0]).events(0).offset_ns(), 500);
  EXPECT_EQ(chunks[1].seq, 3u);
  EXPECT_TRUE(chunks[1].final);
  EXPECT_EQ(chunks[1].ended_unix_ns, 1'800'000'000'000'000'000);
  EXPECT_TRUE(spool.Next(0).empty()) << "sent chunks are not sent twice on one connection";
  EXPECT_FALSE(spool.Idle());
}

TEST(RecordingSpoolTest, UnacknowledgedChunksAreSentAgainAfterAReconnect) {
  RecordingSpool spool(EncodeRecordingEvents);
  spool.Open("s-1", Info(), 0);
  for (int i = 0; i < 3; i++) {
    spool.Add("s-1", i, {}, Output(std::string(1, static_cast<char>('a' + i))));
    spool.Flush(int64_t{1} << 40);
  }
  ASSERT_EQ(spool.Next(0).size(), 4u);
  for (uint64_t seq = 1; seq <= 3; seq++) spool.Ack("s-1", seq);
  spool.Rewind();
  std::vector<RecordingChunk> again = spool.Next(0);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].seq, 4u);
  EXPECT_EQ(Events(again[0]).events(0).output(), "c");
  spool.Ack("s-1", 4);
  spool.Close("s-1", 10, 10, {});
  spool.Rewind();
  ASSERT_EQ(spool.Next(0).size(), 1u);
  spool.Ack("s-1", 5);
  EXPECT_TRUE(spool.Idle());
  EXPECT_EQ(spool.unacked_bytes(), 0u);
}

TEST(RecordingSpoolTest, KernelLossBecomesAGapAtThePlaceItHappened) {
  RecordingSpool spool(EncodeRecordingEvents);
  spool.Open("s-1", Info(), 0);
  spool.Add("s-1", 10, {}, Output("before"));
  spool.Add("s-1", 20, {4096, 0}, Output("after"));
  spool.Close("s-1", 30, 40, {4096 + 100, 0});
  std::vector<RecordingChunk> chunks = spool.Next(0);
  ASSERT_EQ(chunks.size(), 2u);
  v1::RecordingEvents ev = Events(chunks[1]);
  ASSERT_EQ(ev.events_size(), 4);
  EXPECT_EQ(ev.events(0).output(), "before");
  EXPECT_EQ(ev.events(1).gap(), 4096u);
  EXPECT_EQ(ev.events(1).offset_ns(), 20);
  EXPECT_EQ(ev.events(2).output(), "after");
  EXPECT_EQ(ev.events(3).gap(), 100u) << "loss after the last event still shows";
  EXPECT_EQ(chunks[1].lost_bytes, 4196u);
}

TEST(RecordingSpoolTest, BeyondTheMemoryBoundDataBecomesAGapButCommandsAreKept) {
  SpoolLimits limits;
  limits.max_unacked_bytes = 64 << 10;
  RecordingSpool spool(EncodeRecordingEvents, limits);
  spool.Open("s-1", Info(), 0);
  // Incompressible output well past the bound, with nobody acknowledging.
  std::string noise(32 << 10, '\0');
  uint64_t x = 88172645463325252ull;
  uint64_t total = 0;
  for (int i = 0; i < 8; i++) {
    for (char& c : noise) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      c = static_cast<char>(x);
    }
    spool.Add("s-1", i, {}, Output(noise));
    total += noise.size();
    RecordingEvent exec;
    exec.kind = ExecEvent{.pid = 0, .uid = 0, .filename = "", .argv = {StrCat("step-", i)},
                          .cwd = "", .argv_bytes = 0, .argv_truncated = false};
    spool.Add("s-1", i, {}, exec);
    spool.Flush(int64_t{1} << 40);
  }
  spool.Close("s-1", 100, 100, {});
  EXPECT_LE(spool.unacked_bytes(), limits.max_unacked_bytes);
  EXPECT_GT(spool.dropped_bytes(), 0u);
  std::vector<RecordingChunk> chunks = spool.Next(0);
  ASSERT_EQ(chunks.size(), 10u) << "every sequence number is still sent";
  uint64_t kept = 0, gaps = 0;
  int execs = 0;
  for (const auto& c : chunks) {
    const v1::RecordingEvents events = Events(c);
    for (const auto& ev : events.events()) {
      kept += ev.output().size();
      gaps += ev.gap();
      execs += ev.has_exec();
    }
  }
  EXPECT_EQ(kept + gaps, total) << "every byte is either kept or accounted as a gap";
  EXPECT_EQ(execs, 8);
  EXPECT_EQ(chunks.back().lost_bytes, gaps);
}

TEST(RecordingSpoolTest, AStrictSessionAtTheBoundIsReportedAndKeepsItsData) {
  SpoolLimits limits;
  limits.max_unacked_bytes = 16 << 10;
  RecordingSpool spool(EncodeRecordingEvents, limits);
  spool.Open("strict", Info(), 0, /*strict=*/true);
  std::string noise(32 << 10, '\0');
  uint64_t x = 88172645463325252ull;
  for (char& c : noise) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  EXPECT_TRUE(spool.TakeOverflowed().empty());
  spool.Add("strict", 1, {}, Output(noise));
  spool.Flush(int64_t{1} << 40);
  spool.Add("strict", 2, {}, Output(noise));
  spool.Flush(int64_t{1} << 40);
  EXPECT_EQ(spool.TakeOverflowed(), std::vector<std::string>{"strict"});
  EXPECT_TRUE(spool.TakeOverflowed().empty()) << "reported once";
  EXPECT_EQ(spool.dropped_bytes(), 0u);
  std::vector<RecordingChunk> chunks = spool.Next(0);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(Events(chunks[2]).events(0).output(), noise);
}

// wardend restarting: the session leaves one spool with its pending events cut and the chunks
// not yet acknowledged, and goes on in the next spool in sequence, those chunks first.
TEST(RecordingSpoolTest, ASessionHandedToTheNextSpoolGoesOnInSequence) {
  RecordingSpool old_run(EncodeRecordingEvents);
  old_run.Open("s-1", Info(), 1000);
  ASSERT_EQ(old_run.Next(0).size(), 1u);  // sent, not acknowledged
  old_run.Add("s-1", 2000, {}, Output("before"));
  std::optional<SpoolSession> place = old_run.Suspend("s-1", 3000, {});
  ASSERT_TRUE(place.has_value());
  EXPECT_EQ(place->seq, 2u) << "the pending output became chunk 2";
  EXPECT_EQ(place->start_mono_ns, 1000);
  EXPECT_EQ(place->info.user, "adm-alice");
  EXPECT_FALSE(old_run.Suspend("s-1", 3000, {}).has_value()) << "it left the spool";
  std::vector<RecordingChunk> unacked = old_run.TakeUnacked();
  ASSERT_EQ(unacked.size(), 2u);
  EXPECT_TRUE(old_run.Idle());
  EXPECT_EQ(old_run.unacked_bytes(), 0u);

  RecordingSpool next_run(EncodeRecordingEvents);
  next_run.Requeue(std::move(unacked));
  next_run.Resume(*place);
  next_run.Note("s-1", 5000, {.offset_ns = 0, .terminal = 0,
                              .kind = SessionAlert{"recorder_restart", "frozen for 2 us"}});
  next_run.Add("s-1", 6000, {}, Output("after"));
  next_run.Close("s-1", 7000, 42, {});
  std::vector<RecordingChunk> sent = next_run.Next(0);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].seq, 1u);
  EXPECT_TRUE(sent[0].session.has_value());
  EXPECT_EQ(sent[1].seq, 2u);
  EXPECT_EQ(Events(sent[1]).events(0).output(), "before");
  EXPECT_EQ(sent[2].seq, 3u);
  EXPECT_TRUE(sent[2].final);
  const v1::RecordingEvents last = Events(sent[2]);
  ASSERT_EQ(last.events_size(), 2);
  EXPECT_EQ(last.events(0).alert().kind(), "recorder_restart");
  EXPECT_EQ(last.events(0).offset_ns(), 4000) << "offsets go on from the session's start";
  EXPECT_EQ(last.events(1).output(), "after");
  next_run.Ack("s-1", 1);
  next_run.Ack("s-1", 2);
  next_run.Ack("s-1", 3);
  EXPECT_TRUE(next_run.Idle());
}

}  // namespace
}  // namespace warden
