// AuditService: exporting the signed audit log.
#include "controller/api/services_internal.h"

#include "controller/alerts/alert_query.h"
#include "controller/alerts/outbound.h"
#include "controller/api/call.h"
#include "controller/api/host_convert.h"
#include "warden/v1/audit.grpc.pb.h"

namespace warden {

namespace pb = ::warden::v1;
using nlohmann::json;

namespace {

// Streams the log in 64 KiB chunks, then the signed head.
class ExportReactor final : public grpc::ServerWriteReactor<pb::AuditChunk> {
 public:
  // Called once, from a worker thread, with the chunks to send or the error to return.
  void Start(const absl::Status& st, std::vector<pb::AuditChunk> chunks) {
    if (!st.ok()) {
      Finish(ToGrpcStatus(st));
      return;
    }
    chunks_ = std::move(chunks);
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "client went away"));
      return;
    }
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (next_ < chunks_.size()) {
      StartWrite(&chunks_[next_++]);
    } else {
      Finish(grpc::Status::OK);
    }
  }
  std::vector<pb::AuditChunk> chunks_;
  size_t next_ = 0;
};

class Audit final : public pb::AuditService::CallbackService {
 public:
  explicit Audit(ApiCalls& i) : i_(i) {}
  grpc::ServerWriteReactor<pb::AuditChunk>* ExportLog(grpc::CallbackServerContext* ctx,
                                                      const pb::ExportLogRequest*) override {
    auto* reactor = new ExportReactor();
    i_.workers.Submit([this, ctx, reactor] {
      std::vector<pb::AuditChunk> chunks;
      auto export_log = [&](const Identity& who) -> absl::StatusOr<json> {
        ASSIGN_OR_RETURN(AuditLog::Exported exported, i_.c.audit().ExportFor(who, i_.c.policy()));
        const std::string& text = exported.text;
        constexpr size_t kChunk = 64 * 1024;
        for (size_t off = 0; off < text.size(); off += kChunk) {
          chunks.emplace_back().set_data(text.substr(off, kChunk));
        }
        pb::AuditChunk& last = chunks.emplace_back();
        last.set_head_seq(exported.head.seq);
        last.set_head_hash(exported.head.hash);
        last.set_head_signature(exported.head.signature.data(), exported.head.signature.size());
        last.set_audit_public_key(exported.public_key);
        last.set_last(true);
        return json{{"head_seq", exported.head.seq}};
      };
      absl::Status st =
          i_.Audited(ctx, "AuditService.ExportLog", json::object(), Caller::kOperator, export_log);
      reactor->Start(st, std::move(chunks));
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* ListAlerts(grpc::CallbackServerContext* ctx,
                                       const pb::ListAlertsRequest* req,
                                       pb::ListAlertsResponse* resp) override {
    json args = {{"after_seq", req->after_seq()}, {"since", req->since_unix()},
                 {"severity", req->severity()}, {"limit", req->limit()}};
    return i_.Run(ctx, "AuditService.ListAlerts", std::move(args), Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    if (!req->severity().empty() && req->severity() != "critical" &&
                        req->severity() != "warning")
                      return absl::InvalidArgumentError("severity is critical or warning");
                    AlertQuery q{req->after_seq(), req->since_unix(), req->severity(),
                                 std::min<uint32_t>(req->limit(), 10000)};
                    ASSIGN_OR_RETURN(AlertPage page,
                                     warden::ListAlerts(who, i_.c.policy(),
                                                        i_.c.config().data_dir + "/audit/audit.log", q));
                    for (const json& a : page.alerts) {
                      pb::AuditAlert* out = resp->add_alerts();
                      out->set_seq(a.value("seq", uint64_t{0}));
                      out->set_ts(a.value("ts", ""));
                      out->set_name(AlertName(a));
                      out->set_severity(a.value("severity", "warning"));
                      out->set_summary(AlertSummary(a));
                      out->set_event_json(DumpEvent(a));
                    }
                    resp->set_last_seq(page.last_seq);
                    return json{{"count", page.alerts.size()}};
                  });
  }

  grpc::ServerUnaryReactor* GetCoverage(grpc::CallbackServerContext* ctx,
                                        const pb::CoverageRequest* req,
                                        pb::CoverageResponse* resp) override {
    json args = {{"since", req->since_unix()}};
    if (req->has_tier()) args["tier"] = req->tier();
    return i_.Run(ctx, "AuditService.GetCoverage", std::move(args), Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    CoverageQuery q;
                    q.tier = req->has_tier() ? req->tier() : -1;
                    q.since = req->since_unix();
                    ASSIGN_OR_RETURN(CoverageReport r, i_.c.coverage().Compute(who, q));
                    ToProto(r, resp);
                    return json{{"groups", r.groups.size()}, {"unmanaged", r.unmanaged.size()}};
                  });
  }

 private:
  ApiCalls& i_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeAuditService(ApiCalls& calls) {
  return std::make_unique<Audit>(calls);
}

}  // namespace warden
