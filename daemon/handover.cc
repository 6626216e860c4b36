#include "daemon/handover.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/files.h"
#include "common/strings.h"
#include "daemon/proto_convert.h"

namespace warden {

std::string HandoverPath(const HostConfig& config) {
  return (std::filesystem::path(config.agent_socket).parent_path() / "recordings.handover")
      .string();
}

absl::Status WriteHandover(const std::string& path, const Handover& h) {
  v1::RecorderHandover out;
  for (const Handover::Session& s : h.sessions) {
    v1::RecorderHandover::Session* p = out.add_sessions();
    const SpoolSession& sp = s.recording.spool;
    p->set_id(s.host.id);
    v1::SessionInfo* info = p->mutable_info();
    info->set_user(sp.info.user);
    info->set_service(sp.info.service);
    info->set_tty(sp.info.tty);
    info->set_rhost(sp.info.rhost);
    info->set_grant_id(sp.info.grant_id);
    info->set_started_unix_ns(sp.info.started_unix_ns);
    p->set_user(s.host.user);
    p->set_service(s.host.service);
    p->set_tty(s.host.tty);
    p->set_rhost(s.host.rhost);
    p->set_grant_id(s.host.grant_id);
    p->set_uid(s.host.uid);
    p->set_pid(s.host.pid);
    p->set_root(s.host.root);
    p->set_root_start_ticks(s.host.root_start);
    p->set_opened_unix(s.host.opened);
    p->set_moderation(static_cast<uint32_t>(s.host.moderation));
    p->set_moderators_required(s.host.moderators_required);
    p->set_pause_on_leave(s.host.pause_on_leave);
    p->set_moderator_wait(s.host.moderator_wait);
    p->set_waiting_since(s.host.waiting_since);
    p->set_redaction_hold(s.host.redaction_hold);
    p->set_start_mono_ns(sp.start_mono_ns);
    p->set_seq(sp.seq);
    p->set_strict(sp.strict);
    p->set_dropped_bytes(sp.dropped);
    p->set_frozen(s.recording.frozen);
    p->set_paused(s.recording.paused);
    p->set_stopped_mono_ns(s.recording.stopped_mono_ns);
    p->set_redacted_lines(s.recording.redacted_lines);
  }
  for (const RecordingChunk& c : h.unacked) *out.add_unacked() = RecordingChunkToProto(c);
  return WriteFileAtomic(path, out.SerializeAsString(), 0600);
}

absl::StatusOr<std::optional<Handover>> TakeHandover(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    if (errno == ENOENT) return std::nullopt;
    return absl::UnavailableError(StrCat("cannot read ", path, ": ", strerror(errno)));
  }
  std::stringstream data;
  data << f.rdbuf();
  f.close();
  unlink(path.c_str());
  v1::RecorderHandover in;
  if (!in.ParseFromString(data.str()))
    return absl::DataLossError(StrCat(path, " is not a handover of wardend's: ignored"));
  Handover h;
  for (const v1::RecorderHandover::Session& p : in.sessions()) {
    Handover::Session s;
    s.host.id = p.id();
    s.host.user = p.user();
    s.host.service = p.service();
    s.host.tty = p.tty();
    s.host.rhost = p.rhost();
    s.host.grant_id = p.grant_id();
    s.host.uid = p.uid();
    s.host.pid = p.pid();
    s.host.root = p.root();
    s.host.root_start = p.root_start_ticks();
    s.host.opened = p.opened_unix();
    if (p.moderation() <= static_cast<uint32_t>(HostSession::Moderation::kEnding))
      s.host.moderation = static_cast<HostSession::Moderation>(p.moderation());
    s.host.moderators_required = p.moderators_required();
    s.host.pause_on_leave = p.pause_on_leave();
    s.host.moderator_wait = p.moderator_wait();
    s.host.waiting_since = p.waiting_since();
    s.host.redaction_hold = p.redaction_hold();
    SpoolSession& sp = s.recording.spool;
    sp.id = p.id();
    sp.info = {.user = p.info().user(),
               .service = p.info().service(),
               .tty = p.info().tty(),
               .rhost = p.info().rhost(),
               .grant_id = p.info().grant_id(),
               .started_unix_ns = p.info().started_unix_ns()};
    sp.start_mono_ns = p.start_mono_ns();
    sp.seq = p.seq();
    sp.strict = p.strict();
    sp.dropped = p.dropped_bytes();
    s.recording.frozen = p.frozen();
    s.recording.paused = p.paused();
    s.recording.stopped_mono_ns = p.stopped_mono_ns();
    s.recording.redacted_lines = p.redacted_lines();
    h.sessions.push_back(std::move(s));
  }
  for (const v1::RecordingChunk& c : in.unacked()) h.unacked.push_back(RecordingChunkFromProto(c));
  return h;
}

}  // namespace warden
