#include "controller/api/services.h"

#include <grpcpp/security/server_credentials.h>

#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "controller/api/anonymous_gate.h"
#include "controller/api/worker_pool.h"

#include <ctime>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "common/strings.h"
#include "warden/v1/access.grpc.pb.h"
#include "warden/v1/audit.grpc.pb.h"
#include "warden/v1/auth.grpc.pb.h"
#include "warden/v1/ca.grpc.pb.h"
#include "warden/v1/host.grpc.pb.h"
#include "warden/v1/recording.grpc.pb.h"
#include "warden/v1/vault.grpc.pb.h"

namespace warden {

namespace pb = ::warden::v1;
using nlohmann::json;

grpc::Status ToGrpcStatus(const absl::Status& st) {
  if (st.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(st.code()), std::string(st.message()));
}

void ConfigureServerProcess() {
  RestrictGrpcToTls13();
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

std::shared_ptr<grpc::ServerCredentials> ControllerServerCredentials(const Controller& c) {
  grpc::SslServerCredentialsOptions opts(
      GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = c.ca_pem();
  opts.pem_key_cert_pairs.push_back(
      {std::string(c.server_key_pem().view()), c.server_cert_pem()});
  return grpc::SslServerCredentials(opts);
}

namespace {

std::string Peer(grpc::CallbackServerContext* ctx) { return ctx->peer(); }

json RequestJson(const RequestView& v) {
  return {{"id", v.row.id}, {"state", v.row.state}, {"approvals", v.approvals.size()},
          {"grant", v.row.grant_id}};
}

void ToProto(const RequestView& v, pb::AccessRequest* out) {
  out->set_id(v.row.id);
  out->set_requester(v.row.requester);
  out->set_role(v.row.role);
  out->set_reason(v.row.reason);
  out->set_ttl_seconds(v.row.ttl);
  out->set_state(v.row.state);
  out->set_created_unix(v.row.created);
  out->set_expires_unix(v.row.expires);
  for (const auto& a : v.approvals) {
    auto* p = out->add_approvals();
    p->set_approver(a.approver);
    p->set_at_unix(a.at);
  }
  out->set_approvals_required(v.approvals_required);
  for (const auto& g : v.approver_groups) out->add_approver_groups(g);
  out->set_grant_id(v.row.grant_id);
  out->set_decided_by(v.row.decided_by);
  out->set_note(v.row.note);
}

void ToProto(const GrantView& v, pb::Grant* out) {
  out->set_id(v.row.id);
  out->set_request_id(v.row.request_id);
  out->set_user(v.row.user);
  out->set_role(v.row.role);
  out->set_login(v.row.login);
  out->set_tier(v.row.tier);
  out->set_start_unix(v.row.start);
  out->set_end_unix(v.row.end);
  out->set_state(v.state);
  out->set_revoked_unix(v.row.revoked_at);
  out->set_revoked_by(v.row.revoked_by);
  out->set_certificates(v.certificates);
}

void ToProto(int tier, const std::vector<CaKeyRow>& keys, pb::TrustedKeys* out) {
  out->set_tier(tier);
  for (const auto& k : keys) {
    auto* p = out->add_keys();
    auto pub = ParsePublicKey(k.public_key);
    p->set_public_key(pub.ok() ? FormatAuthorizedKey(*pub, k.label) : "");
    p->set_fingerprint(Fingerprint(k.public_key));
    p->set_state(k.state);
    p->set_created_unix(k.created);
  }
}

}  // namespace

// Who may make a call: anyone (login, enrollment), an operator, or an enrolled host.
enum class Caller { kAnonymous, kOperator, kHost };

struct ApiServices::Impl {
  explicit Impl(Controller& c)
      : c(c), workers(kWorkerThreads), gate(c.config().anonymous_calls), auth(*this),
        access(*this), ca(*this), hosts(*this), audit(*this), recordings(*this), vault(*this) {}

  // Enough threads to keep every PKCS#11 session busy while others wait on SQLite or the log.
  static constexpr int kWorkerThreads = 8;
  Controller& c;
  WorkerPool workers;
  AnonymousGate gate;

  absl::StatusOr<Identity> Authenticate(grpc::CallbackServerContext* ctx, Caller caller) {
    auto ac = ctx->auth_context();
    auto pems = ac ? ac->FindPropertyValues("x509_pem_cert") : std::vector<grpc::string_ref>{};
    if (pems.empty()) {
      return absl::UnauthenticatedError(caller == Caller::kHost
                                            ? "no client certificate; enroll the host first"
                                            : "no client certificate; run wardenctl login first");
    }
    // The cache key carries the kind of caller: an identity proven for one kind never serves
    // a call meant for the other.
    std::string key(pems[0].data(), pems[0].size());
    key.push_back(static_cast<char>('0' + static_cast<int>(caller)));
    const int64_t now = static_cast<int64_t>(time(nullptr));
    {
      // The TLS layer has verified the chain; parsing the PEM again on every call is the cost
      // this cache saves. Entries are dropped once their certificate has expired.
      std::lock_guard lock(identity_mu);
      auto it = identities.find(key);
      if (it != identities.end() && now < it->second.expires) return it->second;
    }
    const std::string_view pem(pems[0].data(), pems[0].size());
    ASSIGN_OR_RETURN(Identity id, caller == Caller::kHost ? c.hosts().IdentityFromCertificate(pem)
                                                          : c.auth().IdentityFromCertificate(pem));
    std::lock_guard lock(identity_mu);
    if (identities.size() >= kMaxCachedIdentities) identities.clear();
    identities[key] = id;
    return id;
  }

  static constexpr size_t kMaxCachedIdentities = 4096;
  std::mutex identity_mu;
  std::unordered_map<std::string, Identity> identities;

  // Runs one audited call on the worker pool: intent event, `fn`, outcome event, then finishes
  // the reactor. `fn` returns a JSON summary of the result for the outcome event. If either
  // event cannot be written the call fails (closed). `fn` may capture the request and response:
  // gRPC keeps them alive until Finish. An anonymous call passes the gate first: refused, it
  // finishes at once, unaudited but for the gate's summaries.
  template <typename Fn>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, std::string_view call,
                                json args, Caller caller, Fn&& fn) {
    auto* reactor = ctx->DefaultReactor();
    if (caller == Caller::kAnonymous) {
      if (absl::Status st = AdmitAnonymous(ctx, call); !st.ok()) {
        reactor->Finish(ToGrpcStatus(st));
        return reactor;
      }
    }
    workers.Submit([this, ctx, reactor, call, args = std::move(args), caller,
                    fn = std::forward<Fn>(fn)]() mutable {
      absl::Status st = Audited(ctx, call, std::move(args), caller, fn);
      if (caller == Caller::kAnonymous) gate.Done();
      reactor->Finish(ToGrpcStatus(st));
    });
    return reactor;
  }

  // The gate's verdict on an unauthenticated call; a refusal that the gate wants reported is
  // written to the audit log (one summary event) and the controller's log from the pool.
  absl::Status AdmitAnonymous(grpc::CallbackServerContext* ctx, std::string_view call) {
    const std::string source = AnonymousGate::SourceOf(Peer(ctx));
    const AnonymousGate::Decision d = gate.Admit(source);
    if (d.verdict == AnonymousGate::Verdict::kAdmitted) return absl::OkStatus();
    if (d.refused_to_report > 0) {
      const bool rate = d.verdict == AnonymousGate::Verdict::kRateLimited;
      workers.Submit([this, source, call, rate, n = d.refused_to_report] {
        const std::string reason = rate ? "rate limit" : "busy";
        WriteLogLine("warden-controller", LOG_WARNING,
                     StrCat("refused ", n, " unauthenticated call(s) from ", source, " (", reason,
                            "), latest ", call, "; at most one such report per address a minute"));
        // Best effort: a full log already refuses every call, and this one has been refused.
        (void)c.audit().Append({{"type", "refused"}, {"call", call}, {"source", source},
                                {"refused", n}, {"reason", reason}});
        gate.ReportDone();
      });
    }
    return AnonymousGate::Refusal(d.verdict, source);
  }

  template <typename Fn>
  absl::Status Audited(grpc::CallbackServerContext* ctx, std::string_view call, json args,
                       Caller caller, Fn& fn) {
    std::string log_subject = "a caller without a certificate";
    if (caller == Caller::kAnonymous) {
      for (const char* field : {"user", "hostname"}) {
        if (args.contains(field) && args[field].is_string()) {
          log_subject = StrCat(field, " \"", args[field].get<std::string>(), "\"");
        }
      }
    }
    Identity who;
    absl::Status auth_status;
    if (caller != Caller::kAnonymous) {
      auto id = Authenticate(ctx, caller);
      if (id.ok()) {
        who = std::move(*id);
      } else {
        auth_status = id.status();
      }
    }
    json intent = {{"type", "intent"}, {"call", call}, {"peer", Peer(ctx)}, {"args", std::move(args)}};
    if (!who.user.empty()) intent["actor"] = who.user;
    ASSIGN_OR_RETURN(uint64_t seq, c.audit().Append(std::move(intent)));
    absl::StatusOr<json> result = auth_status.ok() ? fn(who) : absl::StatusOr<json>(auth_status);
    json outcome = {{"type", "outcome"},
                    {"call", call},
                    {"intent", seq},
                    {"code", absl::StatusCodeToString(result.status().code())}};
    if (!who.user.empty()) {
      outcome["actor"] = who.user;
    } else if (result.ok() && result->is_object() && result->contains("user")) {
      outcome["actor"] = (*result)["user"];  // a successful login: the user it proved to be
    }
    if (result.ok()) {
      if (!result->is_null()) outcome["result"] = *result;
    } else {
      outcome["error"] = std::string(result.status().message());
    }
    RETURN_IF_ERROR(c.audit().Append(std::move(outcome)).status());
    if (caller == Caller::kAnonymous && !result.ok()) {
      // For fail2ban and the like; the text is escaped, whatever the client put in it.
      WriteLogLine("warden-controller", LOG_NOTICE,
                   StrCat(call, " refused for ", log_subject, " from ", Peer(ctx), ": ",
                          result.status().message()));
    }
    return result.status();
  }

  class Auth final : public pb::AuthService::CallbackService {
   public:
    explicit Auth(Impl& i) : i_(i) {}
    grpc::ServerUnaryReactor* Login(grpc::CallbackServerContext* ctx, const pb::LoginRequest* req,
                                    pb::LoginResponse* resp) override {
      // Bounded before anything is audited; an oversized field is audited by its size only.
      const absl::Status bounds =
          CheckFieldLimits({{"user", req->user().size(), kMaxUserNameBytes},
                            {"password", req->password().size(), kMaxPasswordBytes},
                            {"otp", req->otp().size(), kMaxOtpBytes},
                            {"csr_pem", req->csr_pem().size(), kMaxCsrPemBytes}});
      json args = bounds.ok() ? json{{"user", req->user()},
                                     {"password", i_.c.audit().Redact(req->password())},
                                     {"otp", i_.c.audit().Redact(req->otp())}}
                              : json{{"refused", std::string(bounds.message())}};
      return i_.Run(ctx, "AuthService.Login", std::move(args), Caller::kAnonymous,
                    [=, this](const Identity&) -> absl::StatusOr<json> {
                      RETURN_IF_ERROR(bounds);
                      ASSIGN_OR_RETURN(LoginResult r, i_.c.auth().Login(req->user(), req->password(),
                                                                        req->otp(), req->csr_pem()));
                      resp->set_certificate_pem(r.certificate_pem);
                      resp->set_ca_pem(i_.c.ca_pem());
                      resp->set_expires_unix(r.expires);
                      return json{{"user", req->user()}, {"expires", r.expires}};
                    });
    }
    grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* ctx, const pb::WhoAmIRequest*,
                                     pb::WhoAmIResponse* resp) override {
      return i_.Run(ctx, "AuthService.WhoAmI", json::object(), Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      resp->set_user(who.user);
                      for (const auto& g : who.groups) resp->add_groups(g);
                      return json();
                    });
    }

   private:
    Impl& i_;
  };

  class Access final : public pb::AccessService::CallbackService {
   public:
    explicit Access(Impl& i) : i_(i) {}
    grpc::ServerUnaryReactor* CreateRequest(grpc::CallbackServerContext* ctx,
                                            const pb::CreateRequestRequest* req,
                                            pb::AccessRequest* resp) override {
      json args = {{"role", req->role()}, {"reason", req->reason()}, {"ttl", req->ttl_seconds()}};
      return i_.Run(ctx, "AccessService.CreateRequest", std::move(args), Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(RequestView v, i_.c.access().Create(
                                                          who, req->role(), req->reason(),
                                                          req->ttl_seconds()));
                      ToProto(v, resp);
                      return RequestJson(v);
                    });
    }
    grpc::ServerUnaryReactor* ListRequests(grpc::CallbackServerContext* ctx,
                                           const pb::ListRequestsRequest* req,
                                           pb::ListRequestsResponse* resp) override {
      return i_.Run(ctx, "AccessService.ListRequests", {{"all", req->all()}}, Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(auto list, i_.c.access().List(who, req->all()));
                      for (const auto& v : list) ToProto(v, resp->add_requests());
                      return json{{"count", list.size()}};
                    });
    }
    grpc::ServerUnaryReactor* GetRequest(grpc::CallbackServerContext* ctx,
                                         const pb::GetRequestRequest* req,
                                         pb::AccessRequest* resp) override {
      return i_.Run(ctx, "AccessService.GetRequest", {{"id", req->id()}}, Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(RequestView v, i_.c.access().Get(who, req->id()));
                      ToProto(v, resp);
                      return json();
                    });
    }
    grpc::ServerUnaryReactor* ApproveRequest(grpc::CallbackServerContext* ctx,
                                             const pb::ReviewRequest* req,
                                             pb::AccessRequest* resp) override {
      return Review(ctx, "AccessService.ApproveRequest", req, resp, &AccessCore::Approve);
    }
    grpc::ServerUnaryReactor* DenyRequest(grpc::CallbackServerContext* ctx,
                                          const pb::ReviewRequest* req,
                                          pb::AccessRequest* resp) override {
      return Review(ctx, "AccessService.DenyRequest", req, resp, &AccessCore::Deny);
    }
    grpc::ServerUnaryReactor* CancelRequest(grpc::CallbackServerContext* ctx,
                                            const pb::CancelRequestRequest* req,
                                            pb::AccessRequest* resp) override {
      return i_.Run(ctx, "AccessService.CancelRequest", {{"id", req->id()}}, Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(RequestView v, i_.c.access().Cancel(who, req->id()));
                      ToProto(v, resp);
                      return RequestJson(v);
                    });
    }
    grpc::ServerUnaryReactor* ListGrants(grpc::CallbackServerContext* ctx,
                                         const pb::ListGrantsRequest* req,
                                         pb::ListGrantsResponse* resp) override {
      return i_.Run(ctx, "AccessService.ListGrants", {{"all", req->all()}}, Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(auto list, i_.c.access().ListGrants(who, req->all()));
                      for (const auto& g : list) ToProto(g, resp->add_grants());
                      return json{{"count", list.size()}};
                    });
    }
    grpc::ServerUnaryReactor* RevokeGrant(grpc::CallbackServerContext* ctx,
                                          const pb::RevokeGrantRequest* req,
                                          pb::Grant* resp) override {
      return i_.Run(ctx, "AccessService.RevokeGrant", {{"id", req->id()}, {"reason", req->reason()}},
                    Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(GrantView g, i_.c.access().Revoke(who, req->id()));
                      ToProto(g, resp);
                      return json{{"grant", g.row.id}, {"certificates", g.certificates}};
                    });
    }

   private:
    using ReviewFn = absl::StatusOr<RequestView> (AccessCore::*)(const Identity&, std::string_view);
    grpc::ServerUnaryReactor* Review(grpc::CallbackServerContext* ctx, std::string_view call,
                                     const pb::ReviewRequest* req, pb::AccessRequest* resp,
                                     ReviewFn fn) {
      return i_.Run(ctx, call, {{"id", req->id()}, {"comment", req->comment()}}, Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(RequestView v, (i_.c.access().*fn)(who, req->id()));
                      ToProto(v, resp);
                      return RequestJson(v);
                    });
    }
    Impl& i_;
  };

  class Ca final : public pb::CaService::CallbackService {
   public:
    explicit Ca(Impl& i) : i_(i) {}
    grpc::ServerUnaryReactor* SignUserKey(grpc::CallbackServerContext* ctx,
                                          const pb::SignUserKeyRequest* req,
                                          pb::SignUserKeyResponse* resp) override {
      json args = {{"grant", req->grant_id()},
                   {"key_bytes", req->public_key().size()},
                   {"source_addresses", req->source_addresses()},
                   {"force_command", req->force_command()},
                   {"extensions", req->extensions()}};
      return i_.Run(ctx, "CaService.SignUserKey", std::move(args), Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      SignRequest sr{req->grant_id(), req->public_key(),
                                     {req->source_addresses().begin(), req->source_addresses().end()},
                                     req->force_command(),
                                     {req->extensions().begin(), req->extensions().end()}};
                      ASSIGN_OR_RETURN(IssuedCertificate ic, i_.c.ca().SignUserKey(who, sr));
                      resp->set_certificate(ic.line);
                      resp->set_serial(ic.cert.serial);
                      resp->set_key_id(ic.cert.key_id);
                      resp->set_principal(ic.cert.principals[0]);
                      resp->set_valid_after_unix(static_cast<int64_t>(ic.cert.valid_after));
                      resp->set_valid_before_unix(static_cast<int64_t>(ic.cert.valid_before));
                      resp->set_ca_fingerprint(ic.ca_fingerprint);
                      return json{{"serial", std::to_string(ic.cert.serial)},
                                  {"key_id", ic.cert.key_id},
                                  {"fingerprint", Fingerprint(ic.cert.key.blob)},
                                  {"valid_before", ic.cert.valid_before}};
                    });
    }
    grpc::ServerUnaryReactor* GetTrustedKeys(grpc::CallbackServerContext* ctx,
                                             const pb::GetTrustedKeysRequest* req,
                                             pb::TrustedKeys* resp) override {
      return i_.Run(ctx, "CaService.GetTrustedKeys", {{"tier", req->tier()}, {"host", req->host_ca()}},
                    Caller::kOperator, [=, this](const Identity&) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(auto keys, i_.c.ca().TrustedKeys(
                                                      req->host_ca() ? "host" : "user", req->tier()));
                      ToProto(req->tier(), keys, resp);
                      return json();
                    });
    }
    grpc::ServerUnaryReactor* RotateCa(grpc::CallbackServerContext* ctx,
                                       const pb::RotateCaRequest* req,
                                       pb::TrustedKeys* resp) override {
      return i_.Run(ctx, "CaService.RotateCa", {{"tier", req->tier()}, {"finish", req->finish()}},
                    Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(auto keys, i_.c.ca().Rotate(who, req->tier(), req->finish()));
                      ToProto(req->tier(), keys, resp);
                      json fps = json::array();
                      for (const auto& k : keys) fps.push_back(Fingerprint(k.public_key));
                      return json{{"trusted", fps}};
                    });
    }
    grpc::ServerUnaryReactor* GetKrl(grpc::CallbackServerContext* ctx, const pb::GetKrlRequest* req,
                                     pb::Krl* resp) override {
      return i_.Run(ctx, "CaService.GetKrl", {{"if_newer_than", req->if_newer_than()}}, Caller::kOperator,
                    [=, this](const Identity&) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(KrlSnapshot k, i_.c.ca().CurrentKrl());
                      resp->set_version(k.version);
                      resp->set_revoked_certificates(k.revoked);
                      if (req->if_newer_than() != 0 && req->if_newer_than() >= k.version) {
                        resp->set_not_modified(true);
                      } else {
                        resp->set_krl(k.blob.data(), k.blob.size());
                      }
                      return json{{"version", k.version}};
                    });
    }

   private:
    Impl& i_;
  };

  // One host's watch stream: sends the host's whole state at once, then again after every
  // published change that makes it newer. At most one state is being built or written at a
  // time; changes arriving meanwhile mark it dirty and are folded into the next one.
  class WatchReactor final : public grpc::ServerWriteReactor<pb::HostState> {
   public:
    WatchReactor(Impl& i, int64_t host_revision) : i_(i), host_revision_(host_revision) {}

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
    void OnWriteDone(bool ok) override {
      std::lock_guard lock(mu_);
      busy_ = false;
      if (!ok) done_ = true;
      if (done_) {
        FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "host went away"));
      } else if (dirty_) {
        Kick();
      }
    }
    void OnCancel() override {
      std::lock_guard lock(mu_);
      done_ = true;
      if (!busy_) FinishOnce(grpc::Status::CANCELLED);
    }
    void OnDone() override {
      if (subscription_) i_.c.access().changes().Unsubscribe(subscription_);
      delete this;
    }

   private:
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
      StartWrite(&msg_);
    }
    void FinishOnce(const grpc::Status& status) {  // mu_ held
      if (finished_) return;
      finished_ = true;
      Finish(status);
    }
    static pb::HostState ToProto(const HostState& st) {
      pb::HostState m;
      m.set_revision(st.revision);
      m.set_host_id(st.host_id);
      m.set_tier(st.tier);
      for (const auto& k : st.trusted_user_ca_keys) m.add_trusted_user_ca_keys(k);
      m.set_krl(st.krl.blob.data(), st.krl.blob.size());
      m.set_krl_version(st.krl.version);
      for (const auto& a : st.accounts) {
        pb::HostAccount* pa = m.add_accounts();
        pa->set_login(a.grant.login);
        pa->set_uid(a.grant.uid);
        pa->set_gid(a.grant.uid);
        pa->set_gecos(a.gecos);
        pa->set_home(a.home);
        pa->set_shell(a.shell);
        pa->set_expires_unix(a.grant.end);
        for (const auto& g : a.groups) pa->add_groups(g);
        pa->set_sudo_rule(a.sudo_rule);
        pa->set_recording_input(a.recording_input);
        pa->set_recording_mode(a.recording_mode);
        pa->set_max_redacted_lines(a.max_redacted_lines);
        pa->set_on_redaction_limit(a.on_redaction_limit);
        if (a.moderators_required > 0) {
          pa->set_moderators_required(static_cast<uint32_t>(a.moderators_required));
          pa->set_moderator_on_leave(a.moderator_on_leave);
        }
        if (a.moderators_required > 0 || a.on_redaction_limit == "hold")
          pa->set_moderator_wait_seconds(a.moderator_wait);
        pa->set_grant_id(a.grant.id);
        pa->set_user(a.grant.user);
      }
      for (const auto& g : st.groups) {
        pb::HostGroup* pg = m.add_groups();
        pg->set_name(g.name);
        pg->set_gid(g.gid);
        for (const auto& member : g.members) pg->add_members(member);
        pg->set_expires_unix(g.expires);
      }
      m.set_server_time_unix(static_cast<int64_t>(time(nullptr)));
      return m;
    }

    Impl& i_;
    std::string host_id_;
    uint64_t subscription_ = 0;  // written before the first Kick, read in OnDone
    std::mutex mu_;
    // busy_: a task (authentication, building a state) or a write is in flight; the reactor
    // is not finished while it is, so OnDone never deletes it under a running task.
    bool busy_ = true, dirty_ = false, done_ = false, finished_ = false, sent_any_ = false;
    const int64_t host_revision_;  // what the host said it has when it connected
    int64_t sent_revision_ = 0;
    pb::HostState msg_;
  };

  class Hosts final : public pb::HostService::CallbackService {
   public:
    explicit Hosts(Impl& i) : i_(i) {}
    grpc::ServerUnaryReactor* CreateJoinToken(grpc::CallbackServerContext* ctx,
                                              const pb::CreateJoinTokenRequest* req,
                                              pb::JoinToken* resp) override {
      std::vector<std::string> hostnames(req->hostnames().begin(), req->hostnames().end());
      json args = {{"tier", req->tier()}, {"ttl", req->ttl_seconds()}, {"hostnames", hostnames},
                   {"labels", std::map<std::string, std::string>(req->labels().begin(),
                                                                 req->labels().end())}};
      return i_.Run(ctx, "HostService.CreateJoinToken", std::move(args), Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(
                          IssuedJoinToken t,
                          i_.c.hosts().CreateJoinToken(
                              who, req->tier(), {req->labels().begin(), req->labels().end()},
                              req->ttl_seconds(), hostnames));
                      resp->set_token(t.token);
                      resp->set_tier(t.tier);
                      resp->set_expires_unix(t.expires);
                      for (const auto& h : t.hostnames) resp->add_hostnames(h);
                      return json{{"token", i_.c.audit().Redact(t.token)}, {"expires", t.expires}};
                    });
    }
    grpc::ServerUnaryReactor* Enroll(grpc::CallbackServerContext* ctx, const pb::EnrollRequest* req,
                                     pb::EnrollResponse* resp) override {
      const absl::Status bounds = CheckFieldLimits(
          {{"token", req->token().size(), kMaxJoinTokenBytes},
           {"hostname", req->hostname().size(), kMaxHostnameBytes},
           {"csr_pem", req->csr_pem().size(), kMaxCsrPemBytes},
           {"ssh_host_public_key", req->ssh_host_public_key().size(), kMaxSshHostKeyBytes}});
      json args = bounds.ok() ? json{{"token", i_.c.audit().Redact(req->token())},
                                     {"hostname", req->hostname()}}
                              : json{{"refused", std::string(bounds.message())}};
      return i_.Run(ctx, "HostService.Enroll", std::move(args), Caller::kAnonymous,
                    [=, this](const Identity&) -> absl::StatusOr<json> {
                      RETURN_IF_ERROR(bounds);
                      ASSIGN_OR_RETURN(Enrollment e,
                                       i_.c.hosts().Enroll(req->token(), req->hostname(),
                                                           req->csr_pem(), req->ssh_host_public_key()));
                      resp->set_host_id(e.host_id);
                      resp->set_tier(e.tier);
                      resp->mutable_labels()->insert(e.labels.begin(), e.labels.end());
                      resp->set_certificate_pem(e.certificate_pem);
                      resp->set_ca_pem(i_.c.ca_pem());
                      resp->set_ssh_host_certificate(e.ssh_host_certificate);
                      resp->set_expires_unix(e.expires);
                      return json{{"host", e.host_id}, {"tier", e.tier}, {"expires", e.expires}};
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
                    [](const Identity&) -> absl::StatusOr<json> { return json(nullptr); });
    }

   private:
    Impl& i_;
  };

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
    explicit Audit(Impl& i) : i_(i) {}
    grpc::ServerWriteReactor<pb::AuditChunk>* ExportLog(grpc::CallbackServerContext* ctx,
                                                        const pb::ExportLogRequest*) override {
      auto* reactor = new ExportReactor();
      i_.workers.Submit([this, ctx, reactor] {
        std::vector<pb::AuditChunk> chunks;
        auto export_log = [&](const Identity& who) -> absl::StatusOr<json> {
          if (!i_.c.policy().IsAdmin(who.user)) {
            return absl::PermissionDeniedError("exporting the audit log is for admins");
          }
          ASSIGN_OR_RETURN(auto exported, i_.c.audit().Export());
          const std::string& text = exported.first;
          constexpr size_t kChunk = 64 * 1024;
          for (size_t off = 0; off < text.size(); off += kChunk) {
            chunks.emplace_back().set_data(text.substr(off, kChunk));
          }
          pb::AuditChunk& last = chunks.emplace_back();
          last.set_head_seq(exported.second.seq);
          last.set_head_hash(exported.second.hash);
          last.set_head_signature(exported.second.signature.data(),
                                  exported.second.signature.size());
          ASSIGN_OR_RETURN(PublicKey pub, i_.c.keys().GetPublicKey(kAuditKeyLabel));
          last.set_audit_public_key(FormatAuthorizedKey(pub, "warden-audit"));
          last.set_last(true);
          return json{{"head_seq", exported.second.seq}};
        };
        absl::Status st =
            i_.Audited(ctx, "AuditService.ExportLog", json::object(), Caller::kOperator, export_log);
        reactor->Start(st, std::move(chunks));
      });
      return reactor;
    }

   private:
    Impl& i_;
  };

  // A host's recording upload: read a chunk, make it durable on a worker, acknowledge it, read
  // the next (one chunk in flight per stream, so acks go back in order). The archive may also
  // send control messages for the host's live sessions (moderators, terminations) at any time;
  // everything written goes through one queue.
  class UploadReactor final : public grpc::ServerBidiReactor<pb::RecordingChunk, pb::UploadAck> {
   public:
    UploadReactor(Impl& i, grpc::CallbackServerContext* ctx) : i_(i) {
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
        sink_ = i_.c.recordings().AttachHost(host_.host_id,
                                             [this](const pb::UploadAck& m) { Send(m); });
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
        absl::StatusOr<uint64_t> seq = i_.c.recordings().Accept(host_, chunk_);
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
    void Send(const pb::UploadAck& m) {
      std::lock_guard lock(mu_);
      if (finishing_) return;
      out_.push_back(m);
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
    // Finish once no read or write is in flight.
    void FinishWhenIdle(const grpc::Status& st) {  // mu_ held
      if (finishing_) return;
      finishing_ = true;
      finish_status_ = st;
      Pump();
    }

    Impl& i_;
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
    void Live(const pb::RecordingChunk& c) {
      std::lock_guard lock(mu_);
      queue_.push_back(c);
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
      if (!writing_) FinishOnce(grpc::Status::CANCELLED);
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

  static void SummaryToProto(const RecordingRow& r, pb::SessionSummary* out) {
    out->mutable_session()->set_grant_id(r.grant_id);
    out->set_session_id(r.session_id);
    pb::SessionInfo* s = out->mutable_session();
    s->set_user(r.user);
    s->set_service(r.service);
    s->set_tty(r.tty);
    s->set_rhost(r.rhost);
    s->set_started_unix_ns(r.started_ns);
    s->set_host_id(r.host_id);
    out->set_ended_unix_ns(r.ended_ns);
    out->set_chunks(r.chunks);
    out->set_lost_bytes(r.lost_bytes);
    out->set_sealed(!r.seal.empty());
    for (const std::string& a : r.alerts) out->add_alerts(a);
  }

  class Recordings final : public pb::RecordingService::CallbackService {
   public:
    explicit Recordings(Impl& i) : i_(i) {}
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
                      RecordingFilter f{req->user(), req->host_id(), req->command(),
                                        req->grant_id(), req->since_unix() * 1000000000,
                                        req->until_unix() * 1000000000};
                      ASSIGN_OR_RETURN(auto rows, i_.c.recordings().List(who, f));
                      for (const auto& r : rows) {
                        pb::SessionSummary* out = resp->add_sessions();
                        SummaryToProto(r, out);
                        const RecordingArchive::Quorum q = i_.c.recordings().QuorumOf(r);
                        out->set_moderators_required(static_cast<uint32_t>(q.required));
                        out->set_moderators(static_cast<uint32_t>(q.present));
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
          if (req->moderator() && !req->follow())
            return absl::InvalidArgumentError("a moderator joins a live session (follow)");
          if (req->moderator()) {
            ASSIGN_OR_RETURN(moderator, i_.c.recordings().JoinModerator(who, req->session_id()));
          }
          if (req->follow()) {
            // Subscribed before reading, so that no chunk falls between the two.
            ASSIGN_OR_RETURN(watch, i_.c.recordings().Watch(
                                        who, req->session_id(),
                                        [reactor](const pb::RecordingChunk& c) { reactor->Live(c); }));
          }
          ASSIGN_OR_RETURN(RecordingRow rec, i_.c.recordings().Get(who, req->session_id()));
          RETURN_IF_ERROR(i_.c.recordings().Read(
              who, req->session_id(), [&](const RecordingChunkRow& row) {
                pb::RecordingChunk& c = chunks.emplace_back();
                c.set_session_id(req->session_id());
                c.set_seq(row.seq);
                c.set_events_zstd(row.data.data(), row.data.size());
                c.set_chain_hash(row.hash.data(), row.hash.size());
                return absl::OkStatus();
              }));
          if (!chunks.empty()) {
            pb::RecordingChunk& first = chunks.front();
            pb::SessionSummary summary;
            SummaryToProto(rec, &summary);
            *first.mutable_session() = summary.session();
            pb::RecordingChunk& last = chunks.back();
            last.set_final(rec.ended_ns != 0);
            last.set_ended_unix_ns(rec.ended_ns);
            last.set_lost_bytes(rec.lost_bytes);
          }
          return json{{"chunks", chunks.size()}};
        };
        absl::Status st = i_.Audited(ctx, "RecordingService.GetRecording",
                                     {{"session", req->session_id()}, {"follow", req->follow()},
                                      {"moderator", req->moderator()}},
                                     Caller::kOperator, read);
        if (!st.ok() && moderator) {
          i_.c.recordings().LeaveModerator(moderator);
          moderator = 0;
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
    Impl& i_;
  };

  // The vault. Values never go into audit events: their HMAC does (value_hmac).
  class VaultApi final : public pb::VaultService::CallbackService {
   public:
    explicit VaultApi(Impl& i) : i_(i) {}
    grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx, const pb::VaultStatusRequest*,
                                     pb::VaultStatus* resp) override {
      return i_.Run(ctx, "VaultService.Status", json::object(), Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(VaultStatus st, i_.c.vault().StatusFor(who));
                      StatusToProto(st, resp);
                      return json{{"sealed", resp->sealed()}};
                    });
    }
    grpc::ServerUnaryReactor* Unseal(grpc::CallbackServerContext* ctx, const pb::UnsealRequest* req,
                                     pb::VaultStatus* resp) override {
      return i_.Run(ctx, "VaultService.Unseal", json::object(), Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(VaultStatus st, i_.c.vault().Unseal(who, req->share()));
                      StatusToProto(st, resp);
                      return json{{"sealed", st.sealed}, {"progress", st.progress}};
                    });
    }
    grpc::ServerUnaryReactor* Seal(grpc::CallbackServerContext* ctx, const pb::SealRequest*,
                                   pb::VaultStatus* resp) override {
      return i_.Run(ctx, "VaultService.Seal", json::object(), Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      RETURN_IF_ERROR(i_.c.vault().Seal(who));
                      StatusToProto(i_.c.vault().Status(), resp);
                      return json{{"sealed", true}};
                    });
    }
    grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const pb::PutSecretRequest* req,
                                  pb::PutSecretResponse* resp) override {
      return i_.Run(ctx, "VaultService.Put", {{"path", req->path()}}, Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(int64_t v, i_.c.vault().Put(who, req->path(), AsBytes(req->value())));
                      resp->set_version(v);
                      return json{{"version", v},
                                  {"value_hmac", i_.c.vault().Fingerprint(AsBytes(req->value()))}};
                    });
    }
    grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const pb::GetSecretRequest* req,
                                  pb::GetSecretResponse* resp) override {
      return i_.Run(ctx, "VaultService.Get", {{"path", req->path()}, {"version", req->version()}},
                    Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(SecretRead r, i_.c.vault().Read(who, req->path(), req->version()));
                      return ReadToProto(r, resp);
                    });
    }
    grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* ctx, const pb::ListSecretsRequest* req,
                                   pb::ListSecretsResponse* resp) override {
      return i_.Run(ctx, "VaultService.List", {{"prefix", req->prefix()}}, Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(auto paths, i_.c.vault().List(who, req->prefix()));
                      for (const auto& p : paths) resp->add_paths(p);
                      return json{{"count", paths.size()}};
                    });
    }
    grpc::ServerUnaryReactor* Metadata(grpc::CallbackServerContext* ctx,
                                       const pb::SecretMetadataRequest* req,
                                       pb::SecretMetadata* resp) override {
      return i_.Run(ctx, "VaultService.Metadata", {{"path", req->path()}}, Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(auto rows, i_.c.vault().Metadata(who, req->path()));
                      resp->set_path(req->path());
                      for (const auto& r : rows) {
                        pb::SecretVersion* v = resp->add_versions();
                        v->set_version(r.version);
                        v->set_created_unix(r.created);
                        v->set_created_by(r.created_by);
                        v->set_deleted_unix(r.deleted);
                        v->set_destroyed_unix(r.destroyed);
                        v->set_used_unix(r.used);
                      }
                      return json{{"versions", rows.size()}};
                    });
    }
    grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx,
                                     const pb::DeleteSecretRequest* req,
                                     pb::DeleteSecretResponse* resp) override {
      std::vector<int64_t> versions(req->versions().begin(), req->versions().end());
      return i_.Run(ctx, "VaultService.Delete",
                    {{"path", req->path()}, {"versions", versions}, {"destroy", req->destroy()}},
                    Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(int n, i_.c.vault().Delete(who, req->path(), versions,
                                                                  req->destroy()));
                      resp->set_changed(n);
                      return json{{"changed", n}};
                    });
    }
    grpc::ServerUnaryReactor* LookupWrap(grpc::CallbackServerContext* ctx,
                                         const pb::WrapRequest* req, pb::WrapInfo* resp) override {
      return i_.Run(ctx, "VaultService.LookupWrap", {{"accessor", req->accessor()}},
                    Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(WrapInfo w, i_.c.vault().LookupWrap(who, req->accessor()));
                      WrapToProto(w, resp);
                      return json{{"path", w.path}, {"approvals", w.approvals.size()}};
                    });
    }
    grpc::ServerUnaryReactor* Authorize(grpc::CallbackServerContext* ctx,
                                        const pb::AuthorizeRequest* req,
                                        pb::WrapInfo* resp) override {
      return i_.Run(ctx, "VaultService.Authorize",
                    {{"accessor", req->accessor()}, {"reason", req->reason()}}, Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(WrapInfo w,
                                       i_.c.vault().Authorize(who, req->accessor(), req->reason()));
                      WrapToProto(w, resp);
                      return json{{"path", w.path}, {"version", w.version},
                                  {"requester", w.requester}, {"approvals", w.approvals.size()},
                                  {"required", w.approvals_required}};
                    });
    }
    grpc::ServerUnaryReactor* Unwrap(grpc::CallbackServerContext* ctx, const pb::UnwrapRequest* req,
                                     pb::GetSecretResponse* resp) override {
      // The token is a bearer secret: only its hash reaches the audit log.
      return i_.Run(ctx, "VaultService.Unwrap",
                    {{"token_hmac", i_.c.vault().Fingerprint(AsBytes(req->token()))}},
                    Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                      ASSIGN_OR_RETURN(SecretRead r, i_.c.vault().Unwrap(who, req->token()));
                      return ReadToProto(r, resp);
                    });
    }
    grpc::ServerUnaryReactor* CheckIn(grpc::CallbackServerContext* ctx, const pb::CheckInRequest* req,
                                      pb::CheckInResponse*) override {
      return i_.Run(ctx, "VaultService.CheckIn", {{"path", req->path()}}, Caller::kOperator,
                    [=, this](const Identity& who) -> absl::StatusOr<json> {
                      RETURN_IF_ERROR(i_.c.vault().CheckIn(who, req->path()));
                      return json::object();
                    });
    }

   private:
    static void StatusToProto(const VaultStatus& st, pb::VaultStatus* out) {
      out->set_initialized(st.initialized);
      out->set_sealed(st.sealed);
      out->set_seal(st.mode);
      out->set_shares(st.shares);
      out->set_threshold(st.threshold);
      out->set_progress(st.progress);
    }
    static void WrapToProto(const WrapInfo& w, pb::WrapInfo* out) {
      out->set_accessor(w.accessor);
      out->set_path(w.path);
      out->set_version(w.version);
      out->set_requester(w.requester);
      out->set_created_unix(w.created);
      out->set_expires_unix(w.expires);
      out->set_approvals_required(w.approvals_required);
      for (const auto& a : w.approvals) {
        pb::Authorization* pa = out->add_approvals();
        pa->set_approver(a.approver);
        pa->set_at_unix(a.at);
        pa->set_reason(a.reason);
      }
      out->set_unwrapped(w.unwrapped);
      out->set_checkout(w.checkout);
    }
    json ReadToProto(const SecretRead& r, pb::GetSecretResponse* out) {
      out->set_version(r.version);
      out->set_checked_out_until_unix(r.checked_out_until);
      if (!r.token.empty()) {
        out->set_wrapping_token(r.token);
        WrapToProto(r.wrap, out->mutable_wrap());
        return json{{"version", r.version}, {"wrapped", true}, {"accessor", r.wrap.accessor}};
      }
      out->set_value(r.value.data(), r.value.size());
      json j = {{"version", r.version}, {"value_hmac", i_.c.vault().Fingerprint(r.value.span())}};
      if (!r.wrap.accessor.empty()) j["accessor"] = r.wrap.accessor;
      if (r.checked_out_until) j["checked_out_until"] = r.checked_out_until;
      return j;
    }

    Impl& i_;
  };

  Auth auth;
  Access access;
  Ca ca;
  Hosts hosts;
  Audit audit;
  Recordings recordings;
  VaultApi vault;
};

ApiServices::ApiServices(Controller& c) : impl_(std::make_unique<Impl>(c)) {}
ApiServices::~ApiServices() = default;

void ApiServices::Register(grpc::ServerBuilder& builder) {
  // Hosts hold watch streams for days and ping every 20 s to notice a dead path; accept that.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.RegisterService(&impl_->auth);
  builder.RegisterService(&impl_->access);
  builder.RegisterService(&impl_->ca);
  builder.RegisterService(&impl_->hosts);
  builder.RegisterService(&impl_->audit);
  builder.RegisterService(&impl_->recordings);
  builder.RegisterService(&impl_->vault);
}

}  // namespace warden
