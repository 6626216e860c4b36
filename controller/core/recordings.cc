#include "controller/core/recordings.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "common/recording_chain.h"
#include "common/sshkey.h"
#include "common/strings.h"

namespace warden {

absl::StatusOr<uint64_t> RecordingArchive::Accept(const Identity& host, const RecordingChunk& c) {
  if (host.host_id.empty()) return absl::PermissionDeniedError("only hosts upload recordings");
  if (c.session_id.empty() || c.session_id.size() > 64)
    return absl::InvalidArgumentError("recording chunk without a valid session id");
  if (c.seq == 0) return absl::InvalidArgumentError("recording chunk sequence numbers start at 1");
  // One writer per session's chain; other sessions (other hosts' uploads) go on meanwhile.
  std::lock_guard<std::mutex> chain(
      chain_mu_[std::hash<std::string>{}(c.session_id) % kChainLocks]);
  ASSIGN_OR_RETURN(std::optional<RecordingRow> rec, store_.GetRecording(c.session_id));
  if (rec && rec->host_id != host.host_id)
    return absl::PermissionDeniedError(
        StrCat("session ", c.session_id, " belongs to another host"));
  if (rec && c.seq <= rec->chunks) {
    // Already durable: acknowledge again. The final chunk again on a recording that is not sealed
    // means its first delivery was stored but not sealed (the token refused the signature, the
    // controller stopped in between): the resend seals it.
    if (c.seq == rec->chunks && c.final && rec->seal.empty()) {
      RETURN_IF_ERROR(Seal(host, c, rec->last_hash));
      Notify(c, rec->last_hash);
    }
    return c.seq;
  }
  uint64_t expected = rec ? rec->chunks + 1 : 1;
  if (c.seq != expected)
    return absl::FailedPreconditionError(
        StrCat("session ", c.session_id, ": chunk ", c.seq, " out of order, expected ", expected));
  if (!rec && !c.session)
    return absl::InvalidArgumentError("the first chunk of a session must describe it");
  if (!rec) {
    const SessionStart& s = *c.session;
    RETURN_IF_ERROR(CheckSessionGrant(host, c.session_id, s));
    RecordingRow row;
    row.session_id = c.session_id;
    row.host_id = host.host_id;
    row.user = s.user;
    row.service = s.service;
    row.tty = s.tty;
    row.rhost = s.rhost;
    row.started_ns = s.started_ns;
    row.grant_id = s.grant_id;
    row.last_hash = ChainStart(c.session_id);
    RETURN_IF_ERROR(store_.InsertRecording(row));
    audit_.Append({{"event", "recording.start"}, {"session", row.session_id},
                   {"host", row.host_id}, {"user", row.user}})
        .IgnoreError();  // the recording itself is the evidence; its start is informational
    rec = std::move(row);
  }
  if (!rec->seal.empty())
    return absl::FailedPreconditionError(StrCat("session ", c.session_id, " is already sealed"));
  for (const RecordingAlert& a : c.alerts) {
    // Written before the chunk is stored: if it cannot be, the host sends the chunk again.
    RETURN_IF_ERROR(audit_.Append({{"event", "recording.alert"}, {"session", c.session_id},
                                   {"host", host.host_id}, {"user", rec->user},
                                   {"kind", a.kind}, {"message", a.message}})
                        .status());
  }
  std::string operator_name;  // the grant's operator, once a chunk has commands
  if (detector_ && !c.commands.empty() && !rec->grant_id.empty()) {
    ASSIGN_OR_RETURN(std::optional<GrantRow> grant, grants_.GetGrant(rec->grant_id));
    if (grant) operator_name = grant->user;
  }
  for (size_t i = 0; detector_ && i < c.commands.size(); i++) {
    const int64_t offset = i < c.command_offsets_ns.size() ? c.command_offsets_ns[i] : 0;
    for (const DetectedAlert& a :
         detector_->ObserveCommand(c.session_id, host.host_id, operator_name, rec->user, offset,
                                   i < c.command_files.size() ? c.command_files[i] : "",
                                   c.commands[i])) {
      // Like the host's alerts: written before the chunk is stored, or the chunk is refused.
      RETURN_IF_ERROR(audit_.Append(a.ToEvent()).status());
    }
  }
  RecordingChunkRow row;
  row.seq = c.seq;
  row.data = ToBytes(c.events_zstd);
  row.hash = ChainNext(rec->last_hash, c.seq, c.events_zstd);
  RETURN_IF_ERROR(store_.AppendRecordingChunk(c.session_id, row, c.commands, c.alerts));
  if (c.final) RETURN_IF_ERROR(Seal(host, c, row.hash));
  if (c.seq == 1 && !c.final) {
    // An end decided before the session's first chunk (a gateway's session revoked while it was
    // opening) may have reached the host before it knew the session: said again now.
    std::lock_guard<std::mutex> lock(mu_);
    auto t = terminations_.find(c.session_id);
    if (t != terminations_.end()) SendLocked(t->second.host_id, t->second.msg);
  }
  Notify(c, row.hash);
  return c.seq;
}

absl::Status RecordingArchive::CheckSessionGrant(const Identity& host, std::string_view session_id,
                                                 const SessionStart& s) {
  ASSIGN_OR_RETURN(std::optional<HostRow> h, host_store_.GetHost(host.host_id));
  if (!h) return absl::PermissionDeniedError(StrCat("host ", host.host_id, " is not enrolled"));
  std::optional<GrantRow> grant;
  if (!s.grant_id.empty()) {
    ASSIGN_OR_RETURN(grant, grants_.GetGrant(s.grant_id));
  }
  if (!grant)
    return absl::PermissionDeniedError(
        StrCat("session ", session_id, " names grant \"", s.grant_id,
               "\", which does not exist: hosts upload recordings of Warden grants' sessions only"));
  if (grant->login != s.user)
    return absl::PermissionDeniedError(
        StrCat("session ", session_id, " of account ", s.user, " is filed under grant ",
               grant->id, ", whose account is ", grant->login, ": refused"));
  absl::StatusOr<const Role*> role = policy_.FindRole(grant->role);
  if (h->kind == kGatewayKind) {
    // A gateway records the brokered sessions of its own tier's broker roles (core/broker.h).
    if (!role.ok() || (*role)->broker_target.empty() || (*role)->tier != h->tier)
      return absl::PermissionDeniedError(
          StrCat("session ", session_id, ": grant ", grant->id, " (role ", grant->role,
                 ") is not a broker role of tier ", h->tier, ": gateway ", h->id,
                 " uploads recordings only of the sessions it brokers"));
    return absl::OkStatus();
  }
  const auto labels = nlohmann::json::parse(h->labels, nullptr, false);
  if (!role.ok() || (*role)->tier != h->tier || !labels.is_object() ||
      !(*role)->broker_target.empty() ||
      !(*role)->SelectsHost(labels.get<std::map<std::string, std::string>>())) {
    return absl::PermissionDeniedError(
        StrCat("session ", session_id, ": grant ", grant->id, " (role ", grant->role,
               role.ok() ? StrCat(", tier ", (*role)->tier) : std::string(", no longer in the policy"),
               ") does not target host ", h->id, " (tier ", h->tier,
               "): a host uploads recordings only for grants whose role selects it"));
  }
  return absl::OkStatus();
}

absl::Status RecordingArchive::Seal(const Identity& host, const RecordingChunk& c,
                                    const Bytes& head) {
  std::string msg = SealMessage(c.session_id, c.seq, head, c.ended_ns, c.lost_bytes);
  ASSIGN_OR_RETURN(Bytes sig, SignSsh(keys_, seal_key_label_, AsBytes(msg)));
  RETURN_IF_ERROR(store_.SealRecording(c.session_id, c.ended_ns, c.lost_bytes, sig));
  {
    std::lock_guard<std::mutex> lock(mu_);
    terminations_.erase(c.session_id);
  }
  audit_.Append({{"event", "recording.sealed"}, {"session", c.session_id},
                 {"host", host.host_id}, {"chunks", c.seq}, {"lost_bytes", c.lost_bytes}})
      .IgnoreError();
  return absl::OkStatus();
}

void RecordingArchive::Notify(const RecordingChunk& c, const Bytes& hash) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, w] : watchers_) {
    if (w.session_id == c.session_id) w.fn(c, hash);
  }
}

absl::StatusOr<uint64_t> RecordingArchive::Watch(const Identity& who, std::string_view session_id,
                                                 ChunkWatcher fn) {
  ASSIGN_OR_RETURN(RecordingRow rec, Get(who, session_id));
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t id = next_watcher_++;
  watchers_[id] = Watcher{rec.session_id, std::move(fn)};
  return id;
}

void RecordingArchive::Unwatch(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  watchers_.erase(id);
}

absl::Status RecordingArchive::CheckViewer(const Identity& who) const {
  if (!who.host_id.empty() || !policy_.InAnyGroup(who.user, policy_.recording_viewer_groups))
    return absl::PermissionDeniedError(
        StrCat(who.user, " may not view recordings (needs one of the recording viewer groups: ",
               StrJoin(policy_.recording_viewer_groups, ", "), ")"));
  return absl::OkStatus();
}

absl::Status RecordingArchive::CheckReader(const Identity& who, const RecordingRow& rec) {
  absl::Status viewer = CheckViewer(who);
  if (viewer.ok() || rec.ended_ns != 0) return viewer;
  absl::StatusOr<ModeratorRight> right = CheckModerator(who, rec);
  return right.ok() && right->required > 0 ? absl::OkStatus() : viewer;
}

absl::Status RecordingArchive::CheckMayModerate(const Identity& who) const {
  if (!who.host_id.empty()) return absl::PermissionDeniedError("hosts do not moderate sessions");
  if (CheckViewer(who).ok()) return absl::OkStatus();
  for (const auto& [name, role] : policy_.roles) {
    if (role.moderators_required > 0 && policy_.InAnyGroup(who.user, role.moderator_groups))
      return absl::OkStatus();
    if (role.on_redaction_limit == "hold" &&
        policy_.InAnyGroup(who.user, role.HoldModeratorGroups()))
      return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      StrCat(who.user, " may not moderate sessions (needs one of the recording viewer groups: ",
             StrJoin(policy_.recording_viewer_groups, ", "), ", or a role's moderator groups)"));
}

int RecordingArchive::Required(const Role& role, const RecordingRow& rec) {
  if (role.moderators_required > 0) return role.moderators_required;
  // Held by its host from the moment it was flagged (on_redaction_limit: hold) until one watches.
  const bool flagged =
      std::find(rec.alerts.begin(), rec.alerts.end(), "redaction_limit") != rec.alerts.end();
  return role.on_redaction_limit == "hold" && flagged ? 1 : 0;
}

absl::StatusOr<RecordingArchive::ModeratorRight> RecordingArchive::CheckModerator(
    const Identity& who, const RecordingRow& rec) {
  if (!who.host_id.empty()) return absl::PermissionDeniedError("hosts do not moderate sessions");
  std::optional<GrantRow> grant;
  if (!rec.grant_id.empty()) {
    ASSIGN_OR_RETURN(grant, grants_.GetGrant(rec.grant_id));
  }
  if (!grant || grant->login != rec.user)
    return absl::PermissionDeniedError(StrCat("session ", rec.session_id,
                                              " has no grant on record; it cannot be moderated"));
  if (grant->user == who.user)
    return absl::PermissionDeniedError(
        StrCat(who.user, " may not moderate their own session (grant ", grant->id, ")"));
  absl::StatusOr<const Role*> role = policy_.FindRole(grant->role);
  ModeratorRight right;
  if (role.ok()) right.required = Required(**role, rec);
  if (role.ok() && (*role)->moderators_required > 0) {
    if (!policy_.InAnyGroup(who.user, (*role)->moderator_groups))
      return absl::PermissionDeniedError(StrCat(
          who.user, " may not moderate sessions of role ", grant->role,
          " (needs one of its moderator groups: ", StrJoin((*role)->moderator_groups, ", "), ")"));
  } else if (role.ok() && (*role)->on_redaction_limit == "hold") {
    // Resuming a session that hid more input than its role allows is a decision about this
    // access: for those who decide about it (the role's approvers), and only once it is held.
    const bool moderator =
        right.required > 0 && policy_.InAnyGroup(who.user, (*role)->HoldModeratorGroups());
    if (!moderator) {
      absl::Status viewer = CheckViewer(who);
      if (!viewer.ok())
        return absl::PermissionDeniedError(StrCat(
            who.user, " may not moderate session ", rec.session_id, " of role ", grant->role,
            " (members of ", StrJoin((*role)->HoldModeratorGroups(), ", "),
            " moderate its sessions once one is held at its redaction limit; recording viewers "
            "always)"));
      right.counts = false;
    }
  } else {
    RETURN_IF_ERROR(CheckViewer(who));
  }
  // Only now, to someone who may moderate it: whether it is still live.
  if (rec.ended_ns != 0)
    return absl::FailedPreconditionError(StrCat("session ", rec.session_id, " has ended"));
  return right;
}

absl::StatusOr<std::vector<RecordingRow>> RecordingArchive::List(const Identity& who,
                                                                 const RecordingFilter& f) {
  absl::Status viewer = CheckViewer(who);
  ASSIGN_OR_RETURN(std::vector<RecordingRow> rows, store_.ListRecordings(f));
  if (viewer.ok()) return rows;
  // Others see the live sessions they are a moderator of (four-eyes roles, and sessions held at
  // their redaction limit), if any.
  std::erase_if(rows, [&](const RecordingRow& r) { return !CheckReader(who, r).ok(); });
  if (rows.empty()) return viewer;
  return rows;
}

absl::StatusOr<RecordingRow> RecordingArchive::Get(const Identity& who,
                                                   std::string_view session_id) {
  ASSIGN_OR_RETURN(std::optional<RecordingRow> rec, store_.GetRecording(session_id));
  if (!rec) {
    RETURN_IF_ERROR(CheckViewer(who));
    return absl::NotFoundError(StrCat("no recording of session ", session_id));
  }
  RETURN_IF_ERROR(CheckReader(who, *rec));
  return *rec;
}

RecordingArchive::Quorum RecordingArchive::QuorumOf(const RecordingRow& rec) {
  Quorum q;
  if (rec.ended_ns != 0) return q;
  if (auto grant = grants_.GetGrant(rec.grant_id); grant.ok() && *grant) {
    if (auto role = policy_.FindRole((*grant)->role); role.ok()) q.required = Required(**role, rec);
  }
  std::lock_guard<std::mutex> lock(mu_);
  q.present = PresentLocked(rec.session_id);
  return q;
}

int RecordingArchive::PresentLocked(const std::string& session_id) const {
  std::set<std::string> users;
  for (const auto& [t, m] : moderators_) {
    if (m.session_id == session_id && m.counts) users.insert(m.user);
  }
  return static_cast<int>(users.size());
}

void RecordingArchive::SendLocked(const std::string& host_id, const SessionControl& msg) {
  for (auto& [id, h] : hosts_) {
    if (h.host_id == host_id) h.fn(msg);
  }
}

absl::StatusOr<RecordingRow> RecordingArchive::LiveSession(const Identity& who,
                                                           std::string_view session_id,
                                                           ModeratorRight* right) {
  // Who is calling first: someone who may moderate nothing learns nothing about session ids.
  RETURN_IF_ERROR(CheckMayModerate(who));
  ASSIGN_OR_RETURN(std::optional<RecordingRow> rec, store_.GetRecording(session_id));
  if (!rec) return absl::NotFoundError(StrCat("no live session ", session_id));
  ASSIGN_OR_RETURN(ModeratorRight r, CheckModerator(who, *rec));
  if (right) *right = r;
  return *rec;
}

absl::StatusOr<uint64_t> RecordingArchive::JoinModerator(const Identity& who,
                                                         std::string_view session_id) {
  ModeratorRight right;
  ASSIGN_OR_RETURN(RecordingRow rec, LiveSession(who, session_id, &right));
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t ticket = next_watcher_++;
  moderators_[ticket] = Moderator{rec.session_id, rec.host_id, who.user, right.counts};
  SessionControl msg;
  msg.session_id = rec.session_id;
  msg.moderators = static_cast<uint32_t>(PresentLocked(rec.session_id));
  SendLocked(rec.host_id, msg);
  audit_.Append({{"event", "session.moderator_joined"}, {"session", rec.session_id},
                 {"host", rec.host_id}, {"by", who.user}, {"moderators", msg.moderators}})
      .IgnoreError();
  return ticket;
}

void RecordingArchive::LeaveModerator(uint64_t ticket) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = moderators_.find(ticket);
  if (it == moderators_.end()) return;
  const Moderator m = it->second;
  moderators_.erase(it);
  SessionControl msg;
  msg.session_id = m.session_id;
  msg.moderators = static_cast<uint32_t>(PresentLocked(m.session_id));
  SendLocked(m.host_id, msg);
  audit_.Append({{"event", "session.moderator_left"}, {"session", m.session_id},
                 {"host", m.host_id}, {"by", m.user}, {"moderators", msg.moderators}})
      .IgnoreError();
}

absl::Status RecordingArchive::Terminate(const Identity& who, std::string_view session_id,
                                         std::string_view reason) {
  ASSIGN_OR_RETURN(RecordingRow rec, LiveSession(who, session_id));
  if (reason.size() > 256) return absl::InvalidArgumentError("reason: at most 256 characters");
  EndLiveSession(rec.host_id, rec.session_id, who.user, reason);
  return absl::OkStatus();
}

void RecordingArchive::EndLiveSession(const std::string& host_id, const std::string& session_id,
                                      std::string_view by, std::string_view reason) {
  std::lock_guard<std::mutex> lock(mu_);
  Termination& t = terminations_[session_id];
  t.host_id = host_id;
  t.msg.session_id = session_id;
  t.msg.moderators = static_cast<uint32_t>(PresentLocked(session_id));
  t.msg.terminated_by = std::string(by);
  t.msg.reason = std::string(reason);
  SendLocked(host_id, t.msg);
}

uint64_t RecordingArchive::AttachHost(const std::string& host_id, ControlSink fn) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t id = next_watcher_++;
  std::set<std::string> sessions;
  for (const auto& [t, m] : moderators_) {
    if (m.host_id == host_id) sessions.insert(m.session_id);
  }
  for (const std::string& s : sessions) {
    SessionControl msg;
    msg.session_id = s;
    msg.moderators = static_cast<uint32_t>(PresentLocked(s));
    fn(msg);
  }
  for (const auto& [s, t] : terminations_) {
    if (t.host_id == host_id) fn(t.msg);
  }
  hosts_[id] = HostSink{host_id, std::move(fn)};
  return id;
}

void RecordingArchive::DetachHost(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  hosts_.erase(id);
}

absl::Status RecordingArchive::Read(
    const Identity& who, std::string_view session_id,
    const std::function<absl::Status(const RecordingChunkRow&)>& fn) {
  ASSIGN_OR_RETURN(RecordingRow rec, Get(who, session_id));
  audit_.Append({{"event", "recording.read"}, {"session", rec.session_id}, {"by", who.user}})
      .IgnoreError();
  return store_.ForEachRecordingChunk(session_id, fn);
}

absl::StatusOr<RecordingArchive::Playback> RecordingArchive::Play(const Identity& who,
                                                                 std::string_view session_id,
                                                                 bool follow, bool moderate,
                                                                 ChunkWatcher live) {
  if (moderate && !follow)
    return absl::InvalidArgumentError("a moderator joins a live session (follow)");
  Playback p;
  absl::Status st = [&]() -> absl::Status {
    if (moderate) {
      ASSIGN_OR_RETURN(p.moderator, JoinModerator(who, session_id));
    }
    if (follow) {
      // Subscribed before reading, so that no chunk falls between the two.
      ASSIGN_OR_RETURN(p.watch, Watch(who, session_id, std::move(live)));
    }
    ASSIGN_OR_RETURN(p.rec, Get(who, session_id));
    return Read(who, session_id, [&](const RecordingChunkRow& row) {
      p.chunks.push_back(row);
      return absl::OkStatus();
    });
  }();
  if (st.ok()) return p;
  if (p.watch) Unwatch(p.watch);
  if (p.moderator) LeaveModerator(p.moderator);
  return st;
}

absl::StatusOr<VerifyResult> RecordingArchive::Verify(const Identity& who,
                                                      std::string_view session_id) {
  ASSIGN_OR_RETURN(RecordingRow rec, Get(who, session_id));
  VerifyResult r;
  Bytes h = ChainStart(session_id);
  uint64_t expected = 1;
  std::string broken;
  RETURN_IF_ERROR(store_.ForEachRecordingChunk(session_id, [&](const RecordingChunkRow& c) {
    if (!broken.empty()) return absl::OkStatus();
    if (c.seq != expected) {
      broken = StrCat("chunk ", expected, " is missing");
      return absl::OkStatus();
    }
    h = ChainNext(h, c.seq, std::string_view(reinterpret_cast<const char*>(c.data.data()),
                                             c.data.size()));
    if (h != c.hash) broken = StrCat("chunk ", c.seq, " was altered: its hash does not chain");
    ++expected;
    return absl::OkStatus();
  }));
  r.chunks = expected - 1;
  if (broken.empty() && r.chunks != rec.chunks)
    broken = StrCat("the recording has ", r.chunks, " chunks but its head says ", rec.chunks);
  if (broken.empty() && h != rec.last_hash) broken = "the recording's head hash does not match";
  r.sealed = !rec.seal.empty();
  if (broken.empty() && r.sealed) {
    ASSIGN_OR_RETURN(PublicKey pub, keys_.GetPublicKey(seal_key_label_));
    std::string msg = SealMessage(session_id, rec.chunks, h, rec.ended_ns, rec.lost_bytes);
    if (!VerifySshSignature(pub, rec.seal, AsBytes(msg)).ok())
      broken = "the end record's signature does not verify";
  }
  r.ok = broken.empty();
  r.message = r.ok ? (r.sealed ? StrCat("intact: ", r.chunks, " chunks, sealed")
                               : StrCat("intact so far: ", r.chunks, " chunks, not sealed yet"))
                   : broken;
  return r;
}

}  // namespace warden
