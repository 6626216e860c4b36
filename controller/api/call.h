// What every API service shares: the controller, the worker pool the calls run on, the gate in
// front of unauthenticated calls, the caller's authentication from its mTLS certificate, and the
// audited run of one call (intent event, the call, outcome event). Internal to controller/api.
#pragma once

#include <cstddef>
#include <mutex>
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

namespace warden {

// Who may make a call: anyone (login, enrollment), an operator, or an enrolled host.
enum class Caller { kAnonymous, kOperator, kHost };

inline std::string Peer(grpc::CallbackServerContext* ctx) { return ctx->peer(); }

struct ApiCalls {
  using json = nlohmann::json;

  explicit ApiCalls(Controller& c)
      : c(c), workers(kWorkerThreads), gate(c.config().anonymous_calls) {}

  // Enough threads to keep every PKCS#11 session busy while others wait on SQLite or the log.
  static constexpr int kWorkerThreads = 8;
  Controller& c;
  WorkerPool workers;
  AnonymousGate gate;

  // The identity proven by the caller's client certificate, for a caller of kind `caller`
  // (an operator or a host), from a small cache keyed by the certificate.
  absl::StatusOr<Identity> Authenticate(grpc::CallbackServerContext* ctx, Caller caller);

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
};

}  // namespace warden
