#include "controller/api/call.h"

namespace warden {

grpc::Status ToGrpcStatus(const absl::Status& st) {
  if (st.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(st.code()), std::string(st.message()));
}

std::optional<std::string> PeerCertificate(grpc::CallbackServerContext* ctx) {
  auto ac = ctx->auth_context();
  auto pems = ac ? ac->FindPropertyValues("x509_pem_cert") : std::vector<grpc::string_ref>{};
  if (pems.empty()) return std::nullopt;
  return std::string(pems[0].data(), pems[0].size());
}

absl::StatusOr<Identity> CallerAuthenticator::Authenticate(std::optional<std::string_view> pem,
                                                           Caller caller) {
  if (!pem) {
    return absl::UnauthenticatedError(caller == Caller::kHost
                                          ? "no client certificate; enroll the host first"
                                          : "no client certificate; run wardenctl login first");
  }
  std::string key(*pem);
  key.push_back(static_cast<char>('0' + static_cast<int>(caller)));
  const int64_t now = clock_.Now();
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && now < it->second.expires) return it->second;
  }
  ASSIGN_OR_RETURN(Identity id, caller == Caller::kHost ? hosts_(*pem) : operators_(*pem));
  std::lock_guard lock(mu_);
  if (cache_.size() >= kMaxCachedIdentities) cache_.clear();
  cache_[key] = id;
  return id;
}

absl::Status ApiCalls::AdmitAnonymous(grpc::CallbackServerContext* ctx, std::string_view call) {
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

}  // namespace warden
