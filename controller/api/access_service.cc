// AccessService: access requests, their review, and the grants they lead to.
#include "controller/api/services_internal.h"

#include "controller/api/access_convert.h"
#include "controller/api/call.h"
#include "warden/v1/access.grpc.pb.h"

namespace warden {

namespace pb = ::warden::v1;
using nlohmann::json;

namespace {

json RequestJson(const RequestView& v) {
  return {{"id", v.row.id}, {"state", v.row.state}, {"approvals", v.approvals.size()},
          {"grant", v.row.grant_id}};
}

class Access final : public pb::AccessService::CallbackService {
 public:
  explicit Access(ApiCalls& i) : i_(i) {}
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
  grpc::ServerUnaryReactor* CreateRdpTicket(grpc::CallbackServerContext* ctx,
                                            const pb::CreateRdpTicketRequest* req,
                                            pb::RdpTicket* resp) override {
    return i_.Run(ctx, "AccessService.CreateRdpTicket", {{"grant", req->grant_id().substr(0, 64)}},
                  Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(BrokerTicket t,
                                     i_.c.broker().CreateTicket(who.user, req->grant_id(),
                                                                req->ttl_seconds()));
                    resp->set_user(t.id);
                    resp->set_password(t.secret);
                    resp->set_target(t.target);
                    resp->set_expires_unix(t.expires);
                    return json{{"ticket", t.id}, {"target", t.target}, {"expires", t.expires}};
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
  ApiCalls& i_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeAccessService(ApiCalls& calls) {
  return std::make_unique<Access>(calls);
}

}  // namespace warden
