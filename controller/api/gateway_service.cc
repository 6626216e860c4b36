// GatewayService: brokered SSH and RDP sessions, for gateways (warden-sshgw, warden-rdpgw) only (core/broker.h).
#include "controller/api/services_internal.h"

#include "controller/api/call.h"
#include "warden/v1/gateway.grpc.pb.h"

namespace warden {

namespace pb = ::warden::v1;
using nlohmann::json;

namespace {

class GatewayApi final : public pb::GatewayService::CallbackService {
 public:
  explicit GatewayApi(ApiCalls& i) : i_(i) {}
  grpc::ServerUnaryReactor* OpenSession(grpc::CallbackServerContext* ctx,
                                        const pb::OpenBrokerSessionRequest* req,
                                        pb::BrokerSession* resp) override {
    json args = {{"principal", req->principal().substr(0, 256)},
                 {"check_only", req->check_only()},
                 {"target", req->target().substr(0, 64)},
                 {"from", req->client_address().substr(0, 64)},
                 {"ticket", req->ticket().substr(0, 64)}};
    return i_.Run(ctx, "GatewayService.OpenSession", std::move(args), Caller::kHost,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    BrokerOpen open{ToBytes(req->certificate()), req->principal(), req->target(),
                                    req->client_address(), req->check_only(), req->ticket(),
                                    req->ticket_secret()};
                    ASSIGN_OR_RETURN(BrokeredSession s, i_.c.broker().Open(who, open));
                    resp->set_session_id(s.session_id);
                    resp->set_grant_id(s.grant_id);
                    resp->set_user(s.user);
                    resp->set_account(s.account);
                    resp->set_target(s.target);
                    resp->set_protocol(s.role->broker_protocol);
                    if (s.role->broker_protocol == "rdp") {
                      resp->set_host(s.role->rdp_host);
                      resp->set_port(s.role->rdp_port);
                      resp->set_login(s.role->rdp_login);
                      resp->set_rdp_certificate(s.role->rdp_certificate);
                      resp->set_rdp_security(s.role->rdp_security);
                    } else {
                      resp->set_host(s.second_leg->host);
                      resp->set_port(s.second_leg->port);
                      resp->set_login(s.second_leg->user);
                      resp->set_host_key(std::string(AsChars(s.second_leg->host_key)));
                    }
                    resp->set_password(std::string(s.password.view()));
                    for (const auto& a : s.allow) resp->add_allow(a);
                    resp->set_force_command(s.force_command);
                    resp->set_pty_allowed(s.pty_allowed);
                    resp->set_recording_input(s.recording_input);
                    resp->set_recording_mode(s.recording_mode);
                    resp->set_moderators_required(static_cast<uint32_t>(s.moderators_required));
                    resp->set_moderator_on_leave(s.moderator_on_leave);
                    resp->set_moderator_wait_seconds(s.moderator_wait);
                    resp->set_expires_unix(s.expires);
                    if (req->check_only())
                      return json{{"grant", s.grant_id}, {"user", s.user}, {"target", s.target}};
                    return json{{"session", s.session_id}, {"grant", s.grant_id},
                                {"user", s.user}, {"target", s.target}};
                  });
  }
  grpc::ServerUnaryReactor* CloseSession(grpc::CallbackServerContext* ctx,
                                         const pb::CloseBrokerSessionRequest* req,
                                         pb::CloseBrokerSessionResponse* resp) override {
    return i_.Run(ctx, "GatewayService.CloseSession", {{"session", req->session_id().substr(0, 64)}},
                  Caller::kHost, [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(BrokerClose c, i_.c.broker().Close(who, req->session_id()));
                    resp->set_checked_in(c.checked_in);
                    resp->set_rotated_version(c.rotated_version);
                    resp->set_rotation_error(c.rotation_error);
                    json out = {{"checked_in", c.checked_in}, {"rotated_version", c.rotated_version}};
                    if (!c.rotation_error.empty()) out["rotation_error"] = c.rotation_error;
                    return out;
                  });
  }

 private:
  ApiCalls& i_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeGatewayService(ApiCalls& calls) {
  return std::make_unique<GatewayApi>(calls);
}

}  // namespace warden
