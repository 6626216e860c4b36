#include "daemon/proto_convert.h"

#include <type_traits>

#include "common/inventory_proto.h"
#include "common/recording.h"

namespace warden {

HostState HostStateFromProto(const v1::HostState& in) {
  HostState out;
  out.revision = in.revision();
  out.trusted_user_ca_keys.assign(in.trusted_user_ca_keys().begin(),
                                  in.trusted_user_ca_keys().end());
  out.krl = in.krl();
  for (const v1::HostAccount& a : in.accounts()) {
    GrantedAccount g;
    g.login = a.login();
    g.gecos = a.gecos();
    g.shell = a.shell();
    g.uid = a.uid();
    g.gid = a.gid();
    g.expires_unix = a.expires_unix();
    g.groups.assign(a.groups().begin(), a.groups().end());
    g.sudo_rule = a.sudo_rule();
    g.grant_id = a.grant_id();
    g.user = a.user();
    g.recording_input = a.recording_input();
    g.recording_mode = a.recording_mode();
    g.moderators_required = a.moderators_required();
    g.moderator_on_leave = a.moderator_on_leave();
    g.moderator_wait_seconds = a.moderator_wait_seconds();
    if (a.has_max_redacted_lines()) g.max_redacted_lines = a.max_redacted_lines();
    g.on_redaction_limit = a.on_redaction_limit();
    out.accounts.push_back(std::move(g));
  }
  for (const v1::HostGroup& g : in.groups()) {
    out.groups.push_back({g.name(), g.gid(), {g.members().begin(), g.members().end()}});
  }
  return out;
}

SessionControl SessionControlFromProto(const v1::SessionControl& in) {
  return {in.moderators(), in.terminated_by(), in.reason()};
}

AgentCall AgentCallFromProto(const v1::AgentRequest& in) {
  switch (in.call_case()) {
    case v1::AgentRequest::kAccount:
      return AccountCheck{in.account().user(), in.account().service(), in.account().rhost()};
    case v1::AgentRequest::kSessionOpen: {
      const v1::SessionOpen& o = in.session_open();
      return SessionOpen{o.user(), o.service(), o.tty(), o.rhost(), o.pid()};
    }
    case v1::AgentRequest::kSessionClose:
      return SessionClose{in.session_close().session_id()};
    case v1::AgentRequest::kPrincipals:
      return PrincipalsQuery{in.principals().user()};
    case v1::AgentRequest::CALL_NOT_SET:
      break;
  }
  return std::monostate{};
}

v1::AgentResponse AgentReplyToProto(const AgentReply& in) {
  v1::AgentResponse out;
  switch (in.verdict) {
    case AgentVerdict::kUnspecified:
      out.set_verdict(v1::AgentResponse::VERDICT_UNSPECIFIED);
      break;
    case AgentVerdict::kAllow:
      out.set_verdict(v1::AgentResponse::ALLOW);
      break;
    case AgentVerdict::kDeny:
      out.set_verdict(v1::AgentResponse::DENY);
      break;
    case AgentVerdict::kNotManaged:
      out.set_verdict(v1::AgentResponse::NOT_MANAGED);
      break;
    case AgentVerdict::kHold:
      out.set_verdict(v1::AgentResponse::HOLD);
      break;
  }
  out.set_message(in.message);
  out.set_session_id(in.session_id);
  for (const std::string& p : in.principals) out.add_principals(p);
  return out;
}

v1::RecordingEvent RecordingEventToProto(const RecordingEvent& in) {
  v1::RecordingEvent out;
  out.set_offset_ns(in.offset_ns);
  out.set_terminal(in.terminal);
  std::visit(
      [&out](const auto& k) {
        using K = std::decay_t<decltype(k)>;
        if constexpr (std::is_same_v<K, TerminalOutput>) {
          out.set_output(k.data);
        } else if constexpr (std::is_same_v<K, TerminalInput>) {
          out.set_input(k.data);
        } else if constexpr (std::is_same_v<K, InputRedacted>) {
          out.set_input_redacted(k.bytes);
        } else if constexpr (std::is_same_v<K, TerminalResize>) {
          out.mutable_resize()->set_cols(k.cols);
          out.mutable_resize()->set_rows(k.rows);
        } else if constexpr (std::is_same_v<K, ExecEvent>) {
          v1::Exec* e = out.mutable_exec();
          e->set_pid(k.pid);
          e->set_uid(k.uid);
          e->set_filename(k.filename);
          for (const std::string& a : k.argv) e->add_argv(a);
          e->set_cwd(k.cwd);
          e->set_argv_bytes(k.argv_bytes);
          e->set_argv_truncated(k.argv_truncated);
        } else if constexpr (std::is_same_v<K, DataGap>) {
          out.set_gap(k.bytes);
        } else if constexpr (std::is_same_v<K, RedactedLine>) {
          v1::RedactedLine* l = out.mutable_redacted_line();
          l->set_bytes(k.bytes);
          l->set_number(k.number);
          l->set_pid(k.pid);
          l->set_comm(k.comm);
          l->set_exe(k.exe);
        } else if constexpr (std::is_same_v<K, LostEvents>) {
          out.set_lost_events(k.count);
        } else if constexpr (std::is_same_v<K, ScreenRect>) {
          v1::Screen* sc = out.mutable_screen();
          sc->set_x(k.x);
          sc->set_y(k.y);
          sc->set_width(k.width);
          sc->set_height(k.height);
          sc->set_pixels_zstd(k.pixels_zstd);
          sc->set_keyframe(k.keyframe);
          sc->set_desktop_width(k.desktop_width);
          sc->set_desktop_height(k.desktop_height);
        } else if constexpr (std::is_same_v<K, RdpInputEvent>) {
          v1::RdpInput* r = out.mutable_rdp_input();
          r->set_kind(static_cast<v1::RdpInput::Kind>(k.kind));
          r->set_flags(k.flags);
          r->set_code(k.code);
          r->set_x(k.x);
          r->set_y(k.y);
        } else {
          static_assert(std::is_same_v<K, SessionAlert>, "every kind of RecordingEvent");
          out.mutable_alert()->set_kind(k.kind);
          out.mutable_alert()->set_message(k.message);
        }
      },
      in.kind);
  return out;
}

v1::RecordingChunk RecordingChunkToProto(const RecordingChunk& in) {
  v1::RecordingChunk out;
  out.set_session_id(in.session_id);
  out.set_seq(in.seq);
  out.set_events_zstd(in.events_zstd);
  if (in.session) {
    v1::SessionInfo* s = out.mutable_session();
    s->set_user(in.session->user);
    s->set_service(in.session->service);
    s->set_tty(in.session->tty);
    s->set_rhost(in.session->rhost);
    s->set_grant_id(in.session->grant_id);
    s->set_started_unix_ns(in.session->started_unix_ns);
  }
  out.set_final(in.final);
  out.set_ended_unix_ns(in.ended_unix_ns);
  out.set_lost_bytes(in.lost_bytes);
  return out;
}

RecordingChunk RecordingChunkFromProto(const v1::RecordingChunk& in) {
  RecordingChunk out;
  out.session_id = in.session_id();
  out.seq = in.seq();
  out.events_zstd = in.events_zstd();
  if (in.has_session()) {
    out.session = SessionInfo{.user = in.session().user(),
                              .service = in.session().service(),
                              .tty = in.session().tty(),
                              .rhost = in.session().rhost(),
                              .grant_id = in.session().grant_id(),
                              .started_unix_ns = in.session().started_unix_ns()};
  }
  out.final = in.final();
  out.ended_unix_ns = in.ended_unix_ns();
  out.lost_bytes = in.lost_bytes();
  return out;
}

namespace {

absl::StatusOr<std::string> Encode(const std::vector<RecordingEvent>& events,
                                   ChunkPacking packing) {
  v1::RecordingEvents msg;
  for (const RecordingEvent& ev : events) *msg.add_events() = RecordingEventToProto(ev);
  return CompressEvents(msg, packing);
}

}  // namespace

absl::StatusOr<std::string> EncodeRecordingEvents(const std::vector<RecordingEvent>& events) {
  return Encode(events, ChunkPacking::kLz4);
}

EncodeEvents RecordingEncoder(bool compress) {
  const ChunkPacking packing = compress ? ChunkPacking::kLz4 : ChunkPacking::kStored;
  return [packing](const std::vector<RecordingEvent>& events) { return Encode(events, packing); };
}

absl::StatusOr<LocalPasswordTask> HostTaskFromProto(const v1::HostTask& in) {
  LocalPasswordTask t;
  const v1::LocalPassword* p = nullptr;
  if (in.has_set_password()) {
    t.kind = LocalPasswordTask::Kind::kSet;
    p = &in.set_password();
  } else if (in.has_check_password()) {
    t.kind = LocalPasswordTask::Kind::kCheck;
    p = &in.check_password();
  } else {
    return absl::InvalidArgumentError("a kind of task this wardend does not know (update it)");
  }
  t.login = p->login();
  t.password = SecretBytes(AsBytes(p->password()));
  return t;
}

v1::InventoryReport InventoryReportToProto(const Inventory* inv, const std::vector<HostLogin>& logins) {
  v1::InventoryReport out;
  if (inv) ToProto(*inv, out.mutable_inventory());
  for (const HostLogin& l : logins) ToProto(l, out.add_logins());
  return out;
}

}  // namespace warden
