// RecordingService: hosts' uploads, and listing, reading, following, verifying and ending sessions.
#include "controller/api/services_internal.h"

#include <deque>
#include <mutex>

#include "controller/api/call.h"
#include "controller/api/recording_convert.h"
#include "warden/v1/recording.grpc.pb.h"

namespace warden {

namespace pb = ::warden::v1;
using nlohmann::json;

namespace {

// A host's recording upload: read a chunk, make it durable on a worker, acknowledge it, read
// the next (one chunk in flight per stream, so acks go back in order). The archive may also
// send control messages for the host's live sessions (moderators, terminations) at any time;
// everything written goes through one queue.
class UploadReactor final : public grpc::ServerBidiReactor<pb::RecordingChunk, pb::UploadAck> {
 public:
  UploadReactor(ApiCalls& i, grpc::CallbackServerContext* ctx) : i_(i) {
    i_.workers.Submit([this, ctx] {
      auto open = [this](const Identity& who) -> absl::StatusOr<json> {
        host_ = who;
        return json{{"host", who.host_id}};
      };
      absl::Status st =
          i_.Audited(ctx, "RecordingService.Upload", json::object(), Caller::kHost, open);
      if (!st.ok()) {
        std::lock_guard lock(mu_);
        FinishWhenIdle(ToGrpcStatus(st));
        return;
      }
      sink_ = i_.c.recordings().AttachHost(
          host_.host_id, [this](const SessionControl& m) { Send(ControlToProto(m)); });
      ReadNext();
    });
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard lock(mu_);
      reading_ = false;
      FinishWhenIdle(grpc::Status::OK);  // the host closed its side (or went away)
      return;
    }
    i_.workers.Submit([this] {
      absl::StatusOr<RecordingChunk> chunk = ChunkFromProto(chunk_);
      absl::StatusOr<uint64_t> seq =
          chunk.ok() ? i_.c.recordings().Accept(host_, *chunk) : chunk.status();
      std::unique_lock lock(mu_);
      reading_ = false;
      if (!seq.ok()) {
        FinishWhenIdle(ToGrpcStatus(seq.status()));
        return;
      }
      pb::UploadAck ack;
      ack.set_session_id(chunk_.session_id());
      ack.set_seq(*seq);
      if (!finishing_) out_.push_back(std::move(ack));
      Pump();
      lock.unlock();
      ReadNext();
    });
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) {
      FinishWhenIdle(grpc::Status(grpc::StatusCode::UNAVAILABLE, "host went away"));
      return;
    }
    Pump();
  }
  void OnDone() override {
    if (sink_) i_.c.recordings().DetachHost(sink_);
    delete this;
  }

 private:
  void ReadNext() {
    {
      std::lock_guard lock(mu_);
      if (finishing_) return;
      reading_ = true;  // from here Finish waits for OnReadDone
    }
    StartRead(&chunk_);
  }
  void Send(pb::UploadAck m) {
    std::lock_guard lock(mu_);
    if (finishing_) return;
    out_.push_back(std::move(m));
    Pump();
  }
  void Pump() {  // mu_ held
    if (writing_ || (finishing_ && reading_)) return;
    if (finishing_) {
      if (!finished_) {
        finished_ = true;
        Finish(finish_status_);
      }
      return;
    }
    if (out_.empty()) return;
    current_ = std::move(out_.front());
    out_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }
  // Finish once no read or write is in flight. Called again by the read or write that was still
  // in flight (the first reason is kept), so that its end finishes the call: a reactor that is
  // never finished holds the server's Shutdown forever.
  void FinishWhenIdle(const grpc::Status& st) {  // mu_ held
    if (!finishing_) {
      finishing_ = true;
      finish_status_ = st;
    }
    Pump();
  }

  ApiCalls& i_;
  Identity host_;
  uint64_t sink_ = 0;  // set before the first read, read in OnDone
  pb::RecordingChunk chunk_;
  std::mutex mu_;
  std::deque<pb::UploadAck> out_;
  pb::UploadAck current_;
  bool reading_ = false, writing_ = false, finishing_ = false, finished_ = false;
  grpc::Status finish_status_;
};

// Sends a prepared list of chunks, then OK (or the error found while preparing).
// Writes a recording's stored chunks; when following a live session, then every chunk the
// archive accepts for it, until the final one.
class ChunkReactor final : public grpc::ServerWriteReactor<pb::RecordingChunk> {
 public:
  explicit ChunkReactor(RecordingArchive& archive) : archive_(archive) {}
  // From a worker: the stored chunks, and whether to keep following (`watch` is the archive
  // subscription that has been feeding Live since before the chunks were read).
  // `moderator` is the archive's moderator ticket (0: an observer), left when the stream ends.
  void Start(const absl::Status& st, std::vector<pb::RecordingChunk> chunks, bool follow,
             uint64_t watch, uint64_t moderator) {
    std::lock_guard lock(mu_);
    watch_ = watch;
    moderator_ = moderator;
    if (!st.ok()) {
      FinishOnce(ToGrpcStatus(st));
      return;
    }
    follow_ = follow && (chunks.empty() || !chunks.back().final());
    const uint64_t stored = chunks.empty() ? 0 : chunks.back().seq();
    std::deque<pb::RecordingChunk> live = std::move(queue_);
    queue_.assign(std::make_move_iterator(chunks.begin()), std::make_move_iterator(chunks.end()));
    for (auto& c : live) {
      if (c.seq() > stored) queue_.push_back(std::move(c));
    }
    started_ = true;
    Next();
  }
  void Live(pb::RecordingChunk c) {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(c));
    if (started_) Next();
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "client went away"));
      return;
    }
    Next();
  }
  void OnCancel() override {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    // Before Start, the worker preparing the playback still holds this reactor (and its archive
    // subscription is not known yet): Start finishes it, so OnDone cannot delete it under the
    // worker nor leave the subscription behind.
    if (started_ && !writing_) FinishOnce(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    if (watch_) archive_.Unwatch(watch_);
    if (moderator_) archive_.LeaveModerator(moderator_);
    delete this;
  }

 private:
  void Next() {  // mu_ held
    if (writing_ || finished_) return;
    if (cancelled_) {
      FinishOnce(grpc::Status::CANCELLED);
      return;
    }
    if (!queue_.empty()) {
      current_ = std::move(queue_.front());
      queue_.pop_front();
      if (current_.final()) follow_ = false;
      writing_ = true;
      StartWrite(&current_);
      return;
    }
    if (!follow_) FinishOnce(grpc::Status::OK);
  }
  void FinishOnce(const grpc::Status& st) {  // mu_ held
    if (finished_) return;
    finished_ = true;
    Finish(st);
  }

  RecordingArchive& archive_;
  std::mutex mu_;
  std::deque<pb::RecordingChunk> queue_;
  pb::RecordingChunk current_;
  uint64_t watch_ = 0, moderator_ = 0;
  bool started_ = false, follow_ = false, writing_ = false, cancelled_ = false,
       finished_ = false;
};

class Recordings final : public pb::RecordingService::CallbackService {
 public:
  explicit Recordings(ApiCalls& i) : i_(i) {}
  grpc::ServerBidiReactor<pb::RecordingChunk, pb::UploadAck>* Upload(
      grpc::CallbackServerContext* ctx) override {
    return new UploadReactor(i_, ctx);
  }
  grpc::ServerUnaryReactor* ListSessions(grpc::CallbackServerContext* ctx,
                                         const pb::ListSessionsRequest* req,
                                         pb::ListSessionsResponse* resp) override {
    json args = {{"user", req->user()}, {"host", req->host_id()}, {"command", req->command()},
                 {"grant", req->grant_id()},
                 {"since", req->since_unix()}, {"until", req->until_unix()}};
    return i_.Run(ctx, "RecordingService.ListSessions", std::move(args), Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(auto rows,
                                     i_.c.recordings().List(who, FilterFromProto(*req)));
                    for (const auto& r : rows) {
                      SummaryToProto(r, i_.c.recordings().QuorumOf(r), resp->add_sessions());
                    }
                    return json{{"count", rows.size()}};
                  });
  }
  grpc::ServerWriteReactor<pb::RecordingChunk>* GetRecording(
      grpc::CallbackServerContext* ctx, const pb::GetRecordingRequest* req) override {
    auto* reactor = new ChunkReactor(i_.c.recordings());
    i_.workers.Submit([this, ctx, req, reactor] {
      std::vector<pb::RecordingChunk> chunks;
      uint64_t watch = 0, moderator = 0;
      auto read = [&](const Identity& who) -> absl::StatusOr<json> {
        ASSIGN_OR_RETURN(
            RecordingArchive::Playback p,
            i_.c.recordings().Play(who, req->session_id(), req->follow(), req->moderator(),
                                   [reactor](const RecordingChunk& c, const Bytes& hash) {
                                     reactor->Live(ChunkToProto(c, hash));
                                   }));
        chunks = PlaybackToProto(p);
        watch = p.watch;
        moderator = p.moderator;
        return json{{"chunks", chunks.size()}};
      };
      absl::Status st = i_.Audited(ctx, "RecordingService.GetRecording",
                                   {{"session", req->session_id()}, {"follow", req->follow()},
                                    {"moderator", req->moderator()}},
                                   Caller::kOperator, read);
      if (!st.ok()) {
        // The outcome could not be audited after the archive opened the playback.
        if (watch) i_.c.recordings().Unwatch(watch);
        if (moderator) i_.c.recordings().LeaveModerator(moderator);
        watch = moderator = 0;
      }
      reactor->Start(st, std::move(chunks), req->follow(), watch, moderator);
    });
    return reactor;
  }
  grpc::ServerUnaryReactor* VerifyRecording(grpc::CallbackServerContext* ctx,
                                            const pb::GetRecordingRequest* req,
                                            pb::VerifyRecordingResponse* resp) override {
    return i_.Run(ctx, "RecordingService.VerifyRecording", {{"session", req->session_id()}},
                  Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(VerifyResult r,
                                     i_.c.recordings().Verify(who, req->session_id()));
                    resp->set_ok(r.ok);
                    resp->set_message(r.message);
                    resp->set_chunks(r.chunks);
                    resp->set_sealed(r.sealed);
                    return json{{"ok", r.ok}, {"message", r.message}};
                  });
  }
  grpc::ServerUnaryReactor* TerminateSession(grpc::CallbackServerContext* ctx,
                                             const pb::TerminateSessionRequest* req,
                                             pb::TerminateSessionResponse*) override {
    return i_.Run(ctx, "RecordingService.TerminateSession",
                  {{"session", req->session_id()}, {"reason", req->reason()}}, Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    RETURN_IF_ERROR(
                        i_.c.recordings().Terminate(who, req->session_id(), req->reason()));
                    return json::object();
                  });
  }

 private:
  ApiCalls& i_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeRecordingService(ApiCalls& calls) {
  return std::make_unique<Recordings>(calls);
}

}  // namespace warden
