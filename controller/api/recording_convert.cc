#include "controller/api/recording_convert.h"

#include "common/recording.h"
#include "common/strings.h"

namespace warden {

namespace {

void SessionToProto(const SessionStart& s, v1::SessionInfo* out) {
  out->set_user(s.user);
  out->set_service(s.service);
  out->set_tty(s.tty);
  out->set_rhost(s.rhost);
  out->set_started_unix_ns(s.started_ns);
  out->set_grant_id(s.grant_id);
}

// A stored session as its host described it, and the host it was recorded on.
void SessionToProto(const RecordingRow& r, v1::SessionInfo* out) {
  SessionToProto(SessionStart{r.user, r.service, r.tty, r.rhost, r.started_ns, r.grant_id}, out);
  out->set_host_id(r.host_id);
}

}  // namespace

absl::StatusOr<RecordingChunk> ChunkFromProto(const v1::RecordingChunk& in) {
  ASSIGN_OR_RETURN(UnpackedEvents unpacked, UnpackEvents(in.events_zstd()));
  const v1::RecordingEvents& events = unpacked.events;
  RecordingChunk c;
  c.session_id = in.session_id();
  c.seq = in.seq();
  // Kept as zstd whatever the host sent (LZ4 today): a quarter less on disk than the host's frame.
  ASSIGN_OR_RETURN(c.events_zstd, PackForStorage(unpacked.raw));
  if (in.has_session()) {
    const v1::SessionInfo& s = in.session();
    c.session =
        SessionStart{s.user(), s.service(), s.tty(), s.rhost(), s.started_unix_ns(), s.grant_id()};
  }
  c.final = in.final();
  c.ended_ns = in.ended_unix_ns();
  c.lost_bytes = in.lost_bytes();
  for (const v1::RecordingEvent& e : events.events()) {
    if (e.has_exec()) {
      std::string line = StrJoin(e.exec().argv(), " ");
      c.commands.push_back(line.empty() ? e.exec().filename() : std::move(line));
      c.command_offsets_ns.push_back(e.offset_ns());
      c.command_files.push_back(e.exec().filename());
    }
    if (e.has_alert()) c.alerts.push_back({e.alert().kind(), e.alert().message()});
  }
  return c;
}

v1::RecordingChunk ChunkToProto(const RecordingChunk& c, ByteSpan chain_hash) {
  v1::RecordingChunk out;
  out.set_session_id(c.session_id);
  out.set_seq(c.seq);
  out.set_events_zstd(c.events_zstd);
  if (c.session) SessionToProto(*c.session, out.mutable_session());
  out.set_final(c.final);
  out.set_ended_unix_ns(c.ended_ns);
  out.set_lost_bytes(c.lost_bytes);
  out.set_chain_hash(chain_hash.data(), chain_hash.size());
  return out;
}

std::vector<v1::RecordingChunk> PlaybackToProto(const RecordingArchive::Playback& p) {
  std::vector<v1::RecordingChunk> out;
  out.reserve(p.chunks.size());
  for (const RecordingChunkRow& row : p.chunks) {
    v1::RecordingChunk& c = out.emplace_back();
    c.set_session_id(p.rec.session_id);
    c.set_seq(row.seq);
    c.set_events_zstd(row.data.data(), row.data.size());
    c.set_chain_hash(row.hash.data(), row.hash.size());
  }
  if (!out.empty()) {
    SessionToProto(p.rec, out.front().mutable_session());
    v1::RecordingChunk& last = out.back();
    last.set_final(p.rec.ended_ns != 0);
    last.set_ended_unix_ns(p.rec.ended_ns);
    last.set_lost_bytes(p.rec.lost_bytes);
  }
  return out;
}

v1::UploadAck ControlToProto(const SessionControl& c) {
  v1::UploadAck out;
  out.set_session_id(c.session_id);
  out.mutable_control()->set_moderators(c.moderators);
  out.mutable_control()->set_terminated_by(c.terminated_by);
  out.mutable_control()->set_reason(c.reason);
  return out;
}

RecordingFilter FilterFromProto(const v1::ListSessionsRequest& req) {
  constexpr int64_t kNanos = 1000000000;
  return RecordingFilter{req.user(),     req.host_id(),           req.command(),
                         req.grant_id(), req.since_unix() * kNanos, req.until_unix() * kNanos};
}

void SummaryToProto(const RecordingRow& r, const RecordingArchive::Quorum& q,
                    v1::SessionSummary* out) {
  out->set_session_id(r.session_id);
  SessionToProto(r, out->mutable_session());
  out->set_ended_unix_ns(r.ended_ns);
  out->set_chunks(r.chunks);
  out->set_lost_bytes(r.lost_bytes);
  out->set_sealed(!r.seal.empty());
  for (const std::string& a : r.alerts) out->add_alerts(a);
  out->set_moderators_required(static_cast<uint32_t>(q.required));
  out->set_moderators(static_cast<uint32_t>(q.present));
}

}  // namespace warden
