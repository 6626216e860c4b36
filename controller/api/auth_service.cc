// AuthService: operator login (the one call made without a certificate) and WhoAmI.
#include "controller/api/services_internal.h"

#include "controller/api/call.h"
#include "warden/v1/auth.grpc.pb.h"

namespace warden {

namespace pb = ::warden::v1;
using nlohmann::json;

namespace {

class Auth final : public pb::AuthService::CallbackService {
 public:
  explicit Auth(ApiCalls& i) : i_(i) {}
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
  ApiCalls& i_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeAuthService(ApiCalls& calls) {
  return std::make_unique<Auth>(calls);
}

}  // namespace warden
