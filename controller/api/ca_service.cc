// CaService: signing user keys, the trusted CA keys and their rotation, the KRL.
#include "controller/api/services_internal.h"

#include "controller/api/ca_convert.h"
#include "controller/api/call.h"
#include "warden/v1/ca.grpc.pb.h"

namespace warden {

namespace pb = ::warden::v1;
using nlohmann::json;

namespace {

class Ca final : public pb::CaService::CallbackService {
 public:
  explicit Ca(ApiCalls& i) : i_(i) {}
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
    return i_.Run(ctx, "CaService.RotateCa",
                  {{"tier", req->tier()}, {"finish", req->finish()}, {"algorithm", req->algorithm()}},
                  Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                    std::optional<KeyAlgorithm> alg;
                    if (!req->algorithm().empty()) {
                      ASSIGN_OR_RETURN(alg, KeyAlgorithmFromName(req->algorithm()));
                    }
                    ASSIGN_OR_RETURN(auto keys,
                                     i_.c.ca().Rotate(who, req->tier(), req->finish(), alg));
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
  ApiCalls& i_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeCaService(ApiCalls& calls) {
  return std::make_unique<Ca>(calls);
}

}  // namespace warden
