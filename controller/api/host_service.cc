// HostService: enrollment, certificate renewal, lease-end reports, and each host's watch stream.
#include "controller/api/services_internal.h"

#include <openssl/crypto.h>

#include <ctime>
#include <mutex>

#include "common/log.h"
#include "common/strings.h"
#include "controller/api/call.h"
#include "controller/api/host_convert.h"
#include "warden/v1/host.grpc.pb.h"

namespace warden {

namespace pb = ::warden::v1;
using nlohmann::json;

namespace {

// The life of one host's server stream, shared by Watch and Tasks. While busy_ (the caller's
// authentication, building a message, or a write) the call is not finished, so OnDone never
// deletes the reactor under running work; a cancel meanwhile is finished once that work ends.
template <typename Msg>
class HostStreamReactor : public grpc::ServerWriteReactor<Msg> {
 public:
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    busy_ = false;
    Written();
    if (!ok) done_ = true;
    if (done_) {
      FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "host went away"));
    } else {
      Next();
    }
  }
  void OnCancel() override {
    std::lock_guard lock(mu_);
    done_ = true;
    if (!busy_) FinishOnce(grpc::Status::CANCELLED);
  }

 protected:
  // After a write, mu_ held: what the written message leaves to clean up, and what comes next.
  virtual void Written() {}
  virtual void Next() = 0;
  void FinishOnce(const grpc::Status& status) {  // mu_ held
    if (finished_) return;
    finished_ = true;
    this->Finish(status);
  }
  std::mutex mu_;
  bool busy_ = true, done_ = false, finished_ = false;
};

// One host's watch stream: sends the host's whole state at once, then again after every
// published change that makes it newer. At most one state is being built or written at a
// time; changes arriving meanwhile mark it dirty and are folded into the next one.
class WatchReactor final : public HostStreamReactor<pb::HostState> {
 public:
  WatchReactor(ApiCalls& i, int64_t host_revision) : i_(i), host_revision_(host_revision) {}

  // Called once, from a worker thread, after the caller was authenticated (or not).
  void Start(grpc::CallbackServerContext* ctx, const absl::Status& st, std::string host_id) {
    if (!st.ok()) {
      std::lock_guard lock(mu_);
      busy_ = false;
      done_ = true;
      FinishOnce(ToGrpcStatus(st));
      return;
    }
    host_id_ = std::move(host_id);
    // Subscribe without holding mu_: Publish holds the feed's lock while it calls us.
    const uint64_t sub = i_.c.access().changes().Subscribe([this] {
      std::lock_guard lock(mu_);
      Kick();
    });
    std::lock_guard lock(mu_);
    subscription_ = sub;
    busy_ = false;
    if (done_) {
      FinishOnce(grpc::Status::CANCELLED);
    } else {
      // Tells the host at once that it is connected and accepted, even when it is up to date
      // and no state follows (its strict-recording sessions depend on knowing).
      ctx->AddInitialMetadata("warden-watch-accepted", "1");
      StartSendInitialMetadata();
      Kick();
    }
  }
  void OnDone() override {
    if (subscription_) i_.c.access().changes().Unsubscribe(subscription_);
    delete this;
  }

 private:
  void Next() override {
    if (dirty_) Kick();
  }
  void Kick() {  // mu_ held
    if (done_) return;
    if (busy_) {
      dirty_ = true;
      return;
    }
    busy_ = true;
    dirty_ = false;
    i_.workers.Submit([this] { Build(); });
  }
  void Build() {
    absl::StatusOr<HostState> st = i_.c.hosts().State(host_id_);
    std::lock_guard lock(mu_);
    if (!done_ && !st.ok()) done_ = true;
    if (done_) {
      busy_ = false;
      FinishOnce(st.ok() ? grpc::Status::CANCELLED : ToGrpcStatus(st.status()));
      return;
    }
    // The whole state goes out once on every connect when it is at least as new as the host's
    // (a fresh controller and a freshly enrolled host are both at 0); after that, only newer
    // ones. A controller behind the host (restored from a backup) never rolls it back: that
    // would bring back accounts revoked since the backup.
    if (!sent_any_ && st->revision < host_revision_) {
      WriteLogLine("warden-controller", LOG_ALERT,
                   StrCat("host ", host_id_, " has host-state revision ", host_revision_,
                          ", newer than this controller's ", st->revision,
                          " (a database restored from a backup?): it keeps what it has until ",
                          "the controller's revision passes it"));
      sent_any_ = true;
      sent_revision_ = host_revision_;
    }
    if (sent_any_ && st->revision <= sent_revision_) {
      busy_ = false;
      if (dirty_) Kick();
      return;
    }
    sent_any_ = true;
    sent_revision_ = st->revision;
    msg_ = ToProto(*st);
    msg_.set_server_time_unix(static_cast<int64_t>(time(nullptr)));
    StartWrite(&msg_);
  }
  ApiCalls& i_;
  std::string host_id_;
  uint64_t subscription_ = 0;  // written before the first Kick, read in OnDone
  bool dirty_ = false, sent_any_ = false;
  const int64_t host_revision_;  // what the host said it has when it connected
  int64_t sent_revision_ = 0;
  pb::HostState msg_;
};

// One host's task stream (core/host_tasks.h): writes the tasks queued for the host one at a
// time. Lock order: this reactor's mu_, then HostTasks' lock (Next); HostTasks calls the wake
// function without its lock held.
class TasksReactor final : public HostStreamReactor<pb::HostTask> {
 public:
  explicit TasksReactor(ApiCalls& i) : i_(i) {}

  // Called once, from a worker thread, after the caller was authenticated (or not). Until then
  // busy_ holds the call open: a cancel meanwhile is finished here, never under the task.
  void Start(const absl::Status& st, const std::string& host_id) {
    {
      std::lock_guard lock(mu_);
      if (!st.ok() || done_) {
        busy_ = false;
        done_ = true;
        FinishOnce(st.ok() ? grpc::Status::CANCELLED : ToGrpcStatus(st));
        return;
      }
    }
    // Attach may call the wake function at once (mu_ is not held here); Kick does nothing while
    // busy_, and the Kick below takes what it would have.
    const uint64_t stream = i_.c.host_tasks().Attach(host_id, [this] {
      std::lock_guard lock(mu_);
      Kick();
    });
    std::lock_guard lock(mu_);
    stream_ = stream;
    busy_ = false;
    if (done_) {
      FinishOnce(grpc::Status::CANCELLED);
      return;
    }
    Kick();
  }
  void OnDone() override {
    // No wake call runs once Detach returns.
    if (stream_) i_.c.host_tasks().Detach(stream_);
    delete this;
  }

 private:
  void Kick() {  // mu_ held
    if (done_ || busy_ || !stream_) return;
    std::optional<DispatchedTask> task = i_.c.host_tasks().Next(stream_);
    if (!task) return;
    busy_ = true;
    msg_.set_id(task->id);
    pb::LocalPassword* p = task->kind == HostTask::Kind::kSetPassword ? msg_.mutable_set_password()
                                                                      : msg_.mutable_check_password();
    p->set_login(task->login);
    p->set_password(reinterpret_cast<const char*>(task->password.data()), task->password.size());
    StartWrite(&msg_);
  }
  void Next() override { Kick(); }
  // The written task's password leaves memory.
  void Written() override {
    for (pb::LocalPassword* p : {msg_.has_set_password() ? msg_.mutable_set_password() : nullptr,
                                 msg_.has_check_password() ? msg_.mutable_check_password() : nullptr}) {
      if (p) OPENSSL_cleanse(p->mutable_password()->data(), p->password().size());
    }
    msg_.Clear();
  }
  ApiCalls& i_;
  uint64_t stream_ = 0;
  pb::HostTask msg_;
};

// Calls only a host running wardend makes: a gateway's certificate is refused (it holds no
// accounts, and is never handed a local account's password).
absl::Status RequireHostKind(const Identity& who) {
  if (who.host_kind == kGatewayKind)
    return absl::PermissionDeniedError(StrCat(who.host_id, " enrolled as a gateway: this call is "
                                              "for hosts running wardend"));
  return absl::OkStatus();
}

class Hosts final : public pb::HostService::CallbackService {
 public:
  explicit Hosts(ApiCalls& i) : i_(i) {}
  grpc::ServerUnaryReactor* CreateJoinToken(grpc::CallbackServerContext* ctx,
                                            const pb::CreateJoinTokenRequest* req,
                                            pb::JoinToken* resp) override {
    std::vector<std::string> hostnames(req->hostnames().begin(), req->hostnames().end());
    const std::string kind = req->kind().empty() ? std::string(kHostKind) : req->kind().substr(0, 64);
    const int uses = req->uses() == 0 ? 1 : static_cast<int>(std::min<uint32_t>(req->uses(), 1u << 30));
    json args = {{"tier", req->tier()}, {"ttl", req->ttl_seconds()}, {"hostnames", hostnames},
                 {"kind", kind}, {"uses", uses},
                 {"labels", std::map<std::string, std::string>(req->labels().begin(),
                                                               req->labels().end())}};
    return i_.Run(ctx, "HostService.CreateJoinToken", std::move(args), Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(
                        IssuedJoinToken t,
                        i_.c.hosts().CreateJoinToken(
                            who, req->tier(), {req->labels().begin(), req->labels().end()},
                            req->ttl_seconds(), hostnames, kind, uses));
                    resp->set_token(t.token);
                    resp->set_kind(t.kind);
                    resp->set_tier(t.tier);
                    resp->set_expires_unix(t.expires);
                    for (const auto& h : t.hostnames) resp->add_hostnames(h);
                    resp->set_uses(static_cast<uint32_t>(t.uses));
                    return json{{"token", i_.c.audit().Redact(t.token)}, {"expires", t.expires}};
                  });
  }
  grpc::ServerUnaryReactor* Enroll(grpc::CallbackServerContext* ctx, const pb::EnrollRequest* req,
                                   pb::EnrollResponse* resp) override {
    const absl::Status bounds = CheckFieldLimits(
        {{"token", req->token().size(), kMaxJoinTokenBytes},
         {"hostname", req->hostname().size(), kMaxHostnameBytes},
         {"csr_pem", req->csr_pem().size(), kMaxCsrPemBytes},
         {"ssh_host_public_key", req->ssh_host_public_key().size(), kMaxSshHostKeyBytes},
         {"kind", req->kind().size(), 16}});
    json args = bounds.ok() ? json{{"token", i_.c.audit().Redact(req->token())},
                                   {"hostname", req->hostname()}}
                            : json{{"refused", std::string(bounds.message())}};
    return i_.Run(ctx, "HostService.Enroll", std::move(args), Caller::kAnonymous,
                  [=, this](const Identity&) -> absl::StatusOr<json> {
                    RETURN_IF_ERROR(bounds);
                    ASSIGN_OR_RETURN(Enrollment e,
                                     i_.c.hosts().Enroll(req->token(), req->hostname(),
                                                         req->csr_pem(), req->ssh_host_public_key(),
                                                         req->kind().empty() ? kHostKind
                                                                             : std::string_view(req->kind())));
                    resp->set_host_id(e.host_id);
                    resp->set_kind(e.kind);
                    resp->set_tier(e.tier);
                    resp->mutable_labels()->insert(e.labels.begin(), e.labels.end());
                    resp->set_certificate_pem(e.certificate_pem);
                    resp->set_ca_pem(i_.c.ca_pem());
                    resp->set_ssh_host_certificate(e.ssh_host_certificate);
                    resp->set_expires_unix(e.expires);
                    json result = {{"host", e.host_id}, {"kind", e.kind}, {"tier", e.tier},
                                   {"expires", e.expires}};
                    if (e.replaced) result["replaced"] = e.replaced;
                    return result;
                  });
  }
  grpc::ServerWriteReactor<pb::HostState>* Watch(grpc::CallbackServerContext* ctx,
                                                 const pb::WatchRequest* req) override {
    auto* reactor = new WatchReactor(i_, req->revision());
    i_.workers.Submit([this, ctx, reactor, revision = req->revision()] {
      std::string host_id;
      auto open = [&](const Identity& who) -> absl::StatusOr<json> {
        host_id = who.host_id;
        return json::object();
      };
      absl::Status st = i_.Audited(ctx, "HostService.Watch", {{"revision", revision}},
                                   Caller::kHost, open);
      reactor->Start(ctx, st, host_id);
    });
    return reactor;
  }
  grpc::ServerUnaryReactor* RenewCertificate(grpc::CallbackServerContext* ctx,
                                             const pb::RenewCertificateRequest* req,
                                             pb::RenewCertificateResponse* resp) override {
    return i_.Run(ctx, "HostService.RenewCertificate", json::object(), Caller::kHost,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(Enrollment e,
                                     i_.c.hosts().Renew(who.host_id, req->csr_pem()));
                    resp->set_certificate_pem(e.certificate_pem);
                    resp->set_expires_unix(e.expires);
                    return json{{"expires", e.expires}};
                  });
  }
  grpc::ServerUnaryReactor* ReportLeaseEnd(grpc::CallbackServerContext* ctx,
                                           const pb::LeaseEndReport* req,
                                           pb::LeaseEndAck*) override {
    json args = {{"grant", req->grant_id()},          {"login", req->login()},
                 {"reason", req->reason()},           {"processes_killed", req->processes_killed()},
                 {"home_removed", req->home_removed()}, {"ended", req->ended_unix()}};
    if (req->incomplete()) {
      // The host could not finish ending the lease: someone may still hold a process.
      args["incomplete"] = true;
      args["error"] = req->error().substr(0, 1024);
      args["attempts"] = req->attempts();
      args["alert"] = true;
    }
    return i_.Run(ctx, "HostService.ReportLeaseEnd", std::move(args), Caller::kHost,
                  [](const Identity& who) -> absl::StatusOr<json> {
                    RETURN_IF_ERROR(RequireHostKind(who));
                    return json(nullptr);
                  });
  }
  grpc::ServerWriteReactor<pb::HostTask>* Tasks(grpc::CallbackServerContext* ctx,
                                               const pb::TasksRequest*) override {
    auto* reactor = new TasksReactor(i_);
    i_.host_workers.Submit([this, ctx, reactor] {
      std::string host_id;
      auto open = [&](const Identity& who) -> absl::StatusOr<json> {
        RETURN_IF_ERROR(RequireHostKind(who));
        host_id = who.host_id;
        return json::object();
      };
      absl::Status st = i_.Audited(ctx, "HostService.Tasks", json::object(), Caller::kHost, open);
      reactor->Start(st, host_id);
    });
    return reactor;
  }
  grpc::ServerUnaryReactor* FinishTask(grpc::CallbackServerContext* ctx,
                                       const pb::HostTaskResult* req, pb::HostTaskAck*) override {
    const std::string message = req->message().substr(0, 1024);
    json args = {{"task", req->id().substr(0, 64)}, {"code", req->code()}};
    if (req->code() != 0) args["message"] = message;
    return i_.RunOn(i_.host_workers, ctx, "HostService.FinishTask", std::move(args), Caller::kHost,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    RETURN_IF_ERROR(RequireHostKind(who));
                    const int code = req->code();
                    absl::Status result =
                        code == 0 ? absl::OkStatus()
                                  : absl::Status(code > 0 && code <= 16
                                                     ? static_cast<absl::StatusCode>(code)
                                                     : absl::StatusCode::kUnknown,
                                                 StrCat("host ", who.host_id, ": ", message));
                    RETURN_IF_ERROR(i_.c.host_tasks().Finish(who.host_id, req->id(), std::move(result)));
                    return json(nullptr);
                  });
  }

  grpc::ServerUnaryReactor* ReportInventory(grpc::CallbackServerContext* ctx,
                                            const pb::InventoryReport* req,
                                            pb::InventoryAck*) override {
    json args = {{"inventory", req->has_inventory()}, {"logins", req->logins_size()}};
    return i_.RunOn(i_.host_workers, ctx, "HostService.ReportInventory", std::move(args),
                    Caller::kHost, [=, this](const Identity& who) -> absl::StatusOr<json> {
                      RETURN_IF_ERROR(RequireHostKind(who));
                      std::optional<Inventory> inventory;
                      if (req->has_inventory()) inventory = FromProto(req->inventory());
                      std::vector<HostLogin> logins;
                      for (const pb::HostLogin& l : req->logins()) logins.push_back(FromProto(l));
                      RETURN_IF_ERROR(i_.c.coverage().Report(who.host_id, inventory, logins));
                      return json(nullptr);
                    });
  }

 private:
  ApiCalls& i_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeHostService(ApiCalls& calls) {
  return std::make_unique<Hosts>(calls);
}

}  // namespace warden
