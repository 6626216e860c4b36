// RecordingStore's tables: recordings, recording_chunks, recording_commands, recording_alerts.
#include "common/strings.h"
#include "controller/store/sqlite/database.h"
#include "controller/store/sqlite/sqlite_store.h"

namespace warden {

using sqlite::Stmt;

namespace {
constexpr const char* kRecordingCols =
    "session_id,host_id,user,service,tty,rhost,started_ns,ended_ns,chunks,last_hash,lost_bytes,"
    "seal,grant_id";

// kRecordingCols of `recordings r`, then the kinds of alert raised in the session.
constexpr const char* kRecordingRead =
    "r.session_id,r.host_id,r.user,r.service,r.tty,r.rhost,r.started_ns,r.ended_ns,r.chunks,"
    "r.last_hash,r.lost_bytes,r.seal,r.grant_id,(SELECT group_concat(kind, ',') FROM (SELECT "
    "DISTINCT kind FROM recording_alerts a WHERE a.session_id=r.session_id ORDER BY kind))";

RecordingRow ReadRecording(Stmt& s) {
  RecordingRow r{s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Text(5),
                 s.Int(6), s.Int(7), static_cast<uint64_t>(s.Int(8)), s.Blob(9),
                 static_cast<uint64_t>(s.Int(10)), s.Blob(11), s.Text(12), {}};
  const std::string alerts = s.Text(13);
  for (size_t start = 0; start < alerts.size();) {
    size_t end = alerts.find(',', start);
    if (end == std::string::npos) end = alerts.size();
    r.alerts.push_back(alerts.substr(start, end - start));
    start = end + 1;
  }
  return r;
}
}  // namespace

absl::Status SqliteStore::InsertRecording(const RecordingRow& r) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("INSERT INTO recordings (", kRecordingCols,
                                               ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)").c_str()));
  return s.Bind(1, r.session_id).Bind(2, r.host_id).Bind(3, r.user).Bind(4, r.service)
      .Bind(5, r.tty).Bind(6, r.rhost).Bind(7, r.started_ns).Bind(8, r.ended_ns)
      .Bind(9, static_cast<int64_t>(r.chunks)).BindBlob(10, r.last_hash)
      .Bind(11, static_cast<int64_t>(r.lost_bytes)).BindBlob(12, r.seal).Bind(13, r.grant_id)
      .Run();
}

absl::StatusOr<std::optional<RecordingRow>> SqliteStore::GetRecording(
    std::string_view session_id) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(StrCat("SELECT ", kRecordingRead,
                                               " FROM recordings r WHERE session_id=?").c_str()));
  return s.Bind(1, session_id).ReadOne(ReadRecording);
}

absl::Status SqliteStore::AppendRecordingChunk(std::string_view session_id,
                                               const RecordingChunkRow& c,
                                               const std::vector<std::string>& commands,
                                               const std::vector<RecordingAlert>& alerts) {
  ASSIGN_OR_RETURN(Transaction tx, Begin());
  {
    ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO recording_chunks VALUES (?,?,?,?)"));
    RETURN_IF_ERROR(s.Bind(1, session_id).Bind(2, static_cast<int64_t>(c.seq))
                        .BindBlob(3, c.data).BindBlob(4, c.hash).Run());
  }
  for (const std::string& argv : commands) {
    ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO recording_commands VALUES (?,?,?)"));
    RETURN_IF_ERROR(s.Bind(1, session_id).Bind(2, static_cast<int64_t>(c.seq)).Bind(3, argv).Run());
  }
  for (const RecordingAlert& a : alerts) {
    ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO recording_alerts VALUES (?,?,?,?)"));
    RETURN_IF_ERROR(s.Bind(1, session_id).Bind(2, static_cast<int64_t>(c.seq)).Bind(3, a.kind)
                        .Bind(4, a.message).Run());
  }
  {
    ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE recordings SET chunks=?, last_hash=? "
                                          "WHERE session_id=?"));
    RETURN_IF_ERROR(s.Bind(1, static_cast<int64_t>(c.seq)).BindBlob(2, c.hash)
                        .Bind(3, session_id).Run());
  }
  return tx.Commit();
}

absl::Status SqliteStore::SealRecording(std::string_view session_id, int64_t ended_ns,
                                        uint64_t lost_bytes, ByteSpan seal) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE recordings SET ended_ns=?, lost_bytes=?, seal=? "
                                        "WHERE session_id=?"));
  return s.Bind(1, ended_ns).Bind(2, static_cast<int64_t>(lost_bytes)).BindBlob(3, seal)
      .Bind(4, session_id).Run();
}

absl::StatusOr<std::vector<RecordingRow>> SqliteStore::ListRecordings(const RecordingFilter& f) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(
      Stmt s,
      db_->Prepare(StrCat("SELECT ", kRecordingRead, " FROM recordings r WHERE (?1='' OR user=?1) "
                          "AND (?2='' OR host_id=?2) AND (?3=0 OR started_ns>=?3) "
                          "AND (?4=0 OR started_ns<=?4) AND (?5='' OR EXISTS (SELECT 1 FROM "
                          "recording_commands c WHERE c.session_id=r.session_id AND "
                          "instr(c.argv, ?5) > 0)) AND (?6='' OR grant_id=?6) ORDER BY started_ns")
                       .c_str()));
  return s.Bind(1, f.user).Bind(2, f.host_id).Bind(3, f.since_ns).Bind(4, f.until_ns)
      .Bind(5, f.command).Bind(6, f.grant_id).ReadAll(ReadRecording);
}

absl::StatusOr<std::vector<HostSessionCount>> SqliteStore::CountRecordingsByHost(int64_t since_ns) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT host_id, count(*), sum(lost_bytes>0) FROM recordings "
                                        "WHERE started_ns>=? GROUP BY host_id ORDER BY host_id"));
  return s.Bind(1, since_ns).ReadAll([](Stmt& s) {
    return HostSessionCount{s.Text(0), static_cast<uint64_t>(s.Int(1)), static_cast<uint64_t>(s.Int(2))};
  });
}

absl::Status SqliteStore::ForEachRecordingChunk(
    std::string_view session_id, const std::function<absl::Status(const RecordingChunkRow&)>& fn) {
  // Read in pages so that the store's lock is not held while `fn` runs (it may write to a
  // network stream).
  uint64_t next = 1;
  while (true) {
    std::vector<RecordingChunkRow> page;
    {
      auto lock = db_->Lock();
      ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT seq,data,hash FROM recording_chunks WHERE "
                                            "session_id=? AND seq>=? ORDER BY seq LIMIT 64"));
      ASSIGN_OR_RETURN(page, s.Bind(1, session_id).Bind(2, static_cast<int64_t>(next))
                                 .ReadAll([](Stmt& s) {
                                   return RecordingChunkRow{static_cast<uint64_t>(s.Int(0)),
                                                            s.Blob(1), s.Blob(2)};
                                 }));
    }
    if (page.empty()) return absl::OkStatus();
    for (const auto& c : page) RETURN_IF_ERROR(fn(c));
    next = page.back().seq + 1;
  }
}

}  // namespace warden
