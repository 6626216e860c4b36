#include "controller/api/call.h"

#include <ctime>

namespace warden {

grpc::Status ToGrpcStatus(const absl::Status& st) {
  if (st.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(st.code()), std::string(st.message()));
}

absl::StatusOr<Identity> ApiCalls::Authenticate(grpc::CallbackServerContext* ctx,
                                                Caller caller) {
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
