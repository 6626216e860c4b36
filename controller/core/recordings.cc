#include "controller/core/recordings.h"

#include "common/crypto.h"
#include "common/recording.h"
#include "common/sshkey.h"
#include "common/strings.h"

namespace warden {

namespace {

std::string JoinArgv(const v1::Exec& e) {
  std::string out = StrJoin(e.argv(), " ");
  return out.empty() ? e.filename() : out;
}

}  // namespace

absl::StatusOr<uint64_t> RecordingArchive::Accept(const Identity& host,
                                                  const v1::RecordingChunk& c) {
  if (host.host_id.empty()) return absl::PermissionDeniedError("only hosts upload recordings");
  if (c.session_id().empty() || c.session_id().size() > 64)
    return absl::InvalidArgumentError("recording chunk without a valid session id");
  if (c.seq() == 0) return absl::InvalidArgumentError("recording chunk sequence numbers start at 1");
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(std::optional<RecordingRow> rec, store_.GetRecording(c.session_id()));
  if (rec && rec->host_id != host.host_id)
    return absl::PermissionDeniedError(
        StrCat("session ", c.session_id(), " belongs to another host"));
  if (rec && c.seq() <= rec->chunks) return c.seq();  // already durable: acknowledge again
  uint64_t expected = rec ? rec->chunks + 1 : 1;
  if (c.seq() != expected)
    return absl::FailedPreconditionError(StrCat("session ", c.session_id(), ": chunk ", c.seq(),
                                                " out of order, expected ", expected));
  if (!rec && !c.has_session())
    return absl::InvalidArgumentError("the first chunk of a session must describe it");
  ASSIGN_OR_RETURN(v1::RecordingEvents events, DecompressEvents(c.events_zstd()));
  if (!rec) {
    const v1::SessionInfo& s = c.session();
    RecordingRow row;
    row.session_id = c.session_id();
    row.host_id = host.host_id;
    row.user = s.user();
    row.service = s.service();
    row.tty = s.tty();
    row.rhost = s.rhost();
    row.started_ns = s.started_unix_ns();
    row.last_hash = ChainStart(c.session_id());
    RETURN_IF_ERROR(store_.InsertRecording(row));
    audit_.Append({{"event", "recording.start"}, {"session", row.session_id},
                   {"host", row.host_id}, {"user", row.user}})
        .IgnoreError();  // the recording itself is the evidence; its start is informational
    rec = std::move(row);
  }
  if (!rec->seal.empty())
    return absl::FailedPreconditionError(StrCat("session ", c.session_id(), " is already sealed"));
  std::vector<std::string> commands;
  for (const auto& e : events.events())
    if (e.has_exec()) commands.push_back(JoinArgv(e.exec()));
  RecordingChunkRow row;
  row.seq = c.seq();
  row.data = ToBytes(c.events_zstd());
  row.hash = ChainNext(rec->last_hash, c.seq(), c.events_zstd());
  RETURN_IF_ERROR(store_.AppendRecordingChunk(c.session_id(), row, commands));
  if (c.final()) {
    std::string msg =
        SealMessage(c.session_id(), c.seq(), row.hash, c.ended_unix_ns(), c.lost_bytes());
    ASSIGN_OR_RETURN(Bytes sig, SignSsh(keys_, seal_key_label_, AsBytes(msg)));
    RETURN_IF_ERROR(store_.SealRecording(c.session_id(), c.ended_unix_ns(), c.lost_bytes(), sig));
    audit_.Append({{"event", "recording.sealed"}, {"session", c.session_id()},
                   {"host", host.host_id}, {"chunks", c.seq()}, {"lost_bytes", c.lost_bytes()}})
        .IgnoreError();
  }
  for (auto& [id, w] : watchers_) {
    if (w.session_id != c.session_id()) continue;
    v1::RecordingChunk out = c;
    out.set_chain_hash(row.hash.data(), row.hash.size());
    w.fn(out);
  }
  return c.seq();
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

absl::StatusOr<std::vector<RecordingRow>> RecordingArchive::List(const Identity& who,
                                                                 const RecordingFilter& f) {
  RETURN_IF_ERROR(CheckViewer(who));
  return store_.ListRecordings(f);
}

absl::StatusOr<RecordingRow> RecordingArchive::Get(const Identity& who,
                                                   std::string_view session_id) {
  RETURN_IF_ERROR(CheckViewer(who));
  ASSIGN_OR_RETURN(std::optional<RecordingRow> rec, store_.GetRecording(session_id));
  if (!rec) return absl::NotFoundError(StrCat("no recording of session ", session_id));
  return *rec;
}

absl::Status RecordingArchive::Read(
    const Identity& who, std::string_view session_id,
    const std::function<absl::Status(const RecordingChunkRow&)>& fn) {
  ASSIGN_OR_RETURN(RecordingRow rec, Get(who, session_id));
  audit_.Append({{"event", "recording.read"}, {"session", rec.session_id}, {"by", who.user}})
      .IgnoreError();
  return store_.ForEachRecordingChunk(session_id, fn);
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
