// What every API service shares: the controller, the worker pool the calls run on, the gate in
// front of unauthenticated calls, the caller's authentication from its mTLS certificate, and the
// audited run of one call (intent event, the call, outcome event). Internal to controller/api.
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/log.h"
#include "common/strings.h"
#include "controller/api/anonymous_gate.h"
#include "controller/api/services.h"
#include "controller/api/worker_pool.h"
#include "controller/controller.h"
#include "controller/core/clock.h"

namespace warden {

// Who may make a call: anyone (login, enrollment), an operator, or an enrolled host.
enum class Caller { kAnonymous, kOperator, kHost };

inline std::string Peer(grpc::CallbackServerContext* ctx) { return ctx->peer(); }

// The client certificate the TLS layer verified for the call, if the caller sent one.
std::optional<std::string> PeerCertificate(grpc::CallbackServerContext* ctx);

// Who a caller is, from the client certificate the TLS layer has verified: an operator's
// certificate names an operator, a host's an enrolled host. The identity proven is cached per
// certificate and kind of caller until the certificate expires: parsing and checking it again on
// every call is the cost the cache saves, and an identity proven for one kind never serves a
// call meant for the other. Thread-safe.
class CallerAuthenticator {
 public:
  // What the certificate `pem` proves for one kind of caller, or why it proves nothing.
  using Verify = std::function<absl::StatusOr<Identity>(std::string_view pem)>;
  CallerAuthenticator(Verify operators, Verify hosts, const Clock& clock)
      : operators_(std::move(operators)), hosts_(std::move(hosts)), clock_(clock) {}

  // REQUIRES: `caller` is kOperator or kHost. `pem` is null for a caller without a certificate.
  absl::StatusOr<Identity> Authenticate(std::optional<std::string_view> pem, Caller caller);

  // Past this many, the cache starts over (each entry is one certificate's PEM and identity).
  static constexpr size_t kMaxCachedIdentities = 4096;

 private:
  const Verify operators_, hosts_;
  const Clock& clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Identity> cache_;  // by PEM and kind of caller
};

struct ApiCalls {
  using json = nlohmann::json;

  explicit ApiCalls(Controller& c)
      : c(c), workers(kWorkerThreads), gate(c.config().anonymous_calls),
        callers([&c](std::string_view pem) { return c.auth().IdentityFromCertificate(pem); },
                [&c](std::string_view pem) { return c.hosts().IdentityFromCertificate(pem); },
                clock) {}

  // Enough threads to keep every PKCS#11 session busy while others wait on SQLite or the log.
  static constexpr int kWorkerThreads = 8;
  Controller& c;
  WorkerPool workers;
  // For the calls that calls on `workers` may wait for: a host's answers to the controller's
  // tasks and the opening of its task stream. (A rotation holds a worker while its host sets
  // the password; with every worker so held, the host's answer must not queue behind them.)
  WorkerPool host_workers{2};
  AnonymousGate gate;
  // Certificates expire in real time, whatever clock the cores run on.
  SystemClock clock;
  CallerAuthenticator callers;

  // Runs one audited call on the worker pool: intent event, `fn`, outcome event, then finishes
  // the reactor. `fn` returns a JSON summary of the result for the outcome event. If either
  // event cannot be written the call fails (closed). `fn` may capture the request and response:
  // gRPC keeps them alive until Finish. An anonymous call passes the gate first: refused, it
  // finishes at once, unaudited but for the gate's summaries.
  template <typename Fn>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, std::string_view call,
                                json args, Caller caller, Fn&& fn) {
    return RunOn(workers, ctx, call, std::move(args), caller, std::forward<Fn>(fn));
  }
  template <typename Fn>
  grpc::ServerUnaryReactor* RunOn(WorkerPool& pool, grpc::CallbackServerContext* ctx,
                                  std::string_view call, json args, Caller caller, Fn&& fn) {
    auto* reactor = ctx->DefaultReactor();
    if (caller == Caller::kAnonymous) {
      if (absl::Status st = AdmitAnonymous(ctx, call); !st.ok()) {
        reactor->Finish(ToGrpcStatus(st));
        return reactor;
      }
    }
    pool.Submit([this, ctx, reactor, call, args = std::move(args), caller,
                    fn = std::forward<Fn>(fn)]() mutable {
      absl::Status st = Audited(ctx, call, std::move(args), caller, fn);
      if (caller == Caller::kAnonymous) gate.Done();
      reactor->Finish(ToGrpcStatus(st));
    });
    return reactor;
  }

  // The gate's verdict on an unauthenticated call; a refusal that the gate wants reported is
  // written to the audit log (one summary event) and the controller's log from the pool.
  absl::Status AdmitAnonymous(grpc::CallbackServerContext* ctx, std::string_view call);

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
      auto id = callers.Authenticate(PeerCertificate(ctx), caller);
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
};

}  // namespace warden
