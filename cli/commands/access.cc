// Access requests and grants: request, requests, approve, deny, cancel, grants, revoke,
// rdp ticket.
#include <ctime>

#include <nlohmann/json.hpp>

#include "cli/commands/commands.h"
#include "common/duration.h"
#include "common/strings.h"
#include "warden/v1/access.grpc.pb.h"

namespace pb = ::warden::v1;
using nlohmann::json;

namespace warden::cli {
namespace {

json RequestJson(const pb::AccessRequest& r) {
  json approvals = json::array();
  for (const auto& a : r.approvals()) approvals.push_back({{"approver", a.approver()}, {"at", a.at_unix()}});
  return {{"id", r.id()}, {"requester", r.requester()}, {"role", r.role()}, {"reason", r.reason()},
          {"ttl_seconds", r.ttl_seconds()}, {"state", r.state()}, {"created", r.created_unix()},
          {"expires", r.expires_unix()}, {"approvals", approvals},
          {"approvals_required", r.approvals_required()}, {"grant_id", r.grant_id()},
          {"note", r.note()}};
}

void PrintRequest(Context& ctx, const pb::AccessRequest& r) {
  ctx.out().text() << r.id() << "  " << r.role() << "  requested by " << r.requester() << "  ["
            << r.state() << "]\n"
            << "  reason:    " << r.reason() << "\n"
            << "  ttl:       " << In(r.ttl_seconds()) << "\n";
  std::vector<std::string> who;
  for (const auto& a : r.approvals()) who.push_back(a.approver());
  ctx.out().text() << "  approvals: " << r.approvals_size() << " of " << r.approvals_required();
  if (!who.empty()) ctx.out().text() << " (" << StrJoin(who, ", ") << ")";
  ctx.out().text() << "; approvers: " << StrJoin(r.approver_groups(), ", ") << "\n";
  if (r.state() == "pending") {
    ctx.out().text() << "  expires:   " << When(r.expires_unix()) << " unless approved\n";
  }
  if (!r.grant_id().empty()) ctx.out().text() << "  grant:     " << r.grant_id() << "\n";
  if (!r.note().empty()) ctx.out().text() << "  note:      " << r.note() << "\n";
}

json GrantJson(const pb::Grant& g) {
  return {{"id", g.id()}, {"request_id", g.request_id()}, {"user", g.user()}, {"role", g.role()},
          {"login", g.login()}, {"tier", g.tier()}, {"start", g.start_unix()}, {"end", g.end_unix()},
          {"state", g.state()}, {"revoked_by", g.revoked_by()}, {"certificates", g.certificates()}};
}

void PrintGrant(Context& ctx, const pb::Grant& g) {
  ctx.out().text() << g.id() << "  " << g.login() << "  role " << g.role() << " (tier " << g.tier()
            << ")  [" << g.state() << "]";
  if (g.state() == "active") ctx.out().text() << "  ends in " << In(g.end_unix() - time(nullptr));
  if (g.state() == "revoked") ctx.out().text() << "  by " << g.revoked_by();
  ctx.out().text() << "  certificates: " << g.certificates() << "\n";
}
absl::Status ShowRequest(Context& ctx, const pb::AccessRequest& r, const std::string& headline) {
  if (ctx.out().json()) {
    ctx.out().Json(RequestJson(r));
  } else {
    ctx.out().text() << headline << "\n";
    PrintRequest(ctx, r);
  }
  return absl::OkStatus();
}
absl::Status Request(Context& ctx, const std::string& role, const std::string& reason, const std::string& ttl) {
  RETURN_IF_ERROR(ctx.Open());
  pb::CreateRequestRequest req;
  req.set_role(role);
  req.set_reason(reason);
  if (!ttl.empty()) {
    ASSIGN_OR_RETURN(int64_t secs, ParseDuration(ttl));
    req.set_ttl_seconds(secs);
  }
  pb::AccessRequest resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::AccessService>()->CreateRequest(CallContext().get(), req, &resp), ctx.profile()));
  return ShowRequest(ctx, resp, "Request filed. Approvers run: wardenctl approve " + resp.id());
}

absl::Status Requests(Context& ctx, bool all) {
  RETURN_IF_ERROR(ctx.Open());
  pb::ListRequestsRequest req;
  req.set_all(all);
  pb::ListRequestsResponse resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::AccessService>()->ListRequests(CallContext().get(), req, &resp), ctx.profile()));
  if (ctx.out().json()) {
    json arr = json::array();
    for (const auto& r : resp.requests()) arr.push_back(RequestJson(r));
    ctx.out().Json(arr);
    return absl::OkStatus();
  }
  if (resp.requests().empty()) ctx.out().text() << (all ? "No requests.\n" : "No pending requests.\n");
  for (const auto& r : resp.requests()) PrintRequest(ctx, r);
  return absl::OkStatus();
}

absl::Status Review(Context& ctx, const std::string& verb, const std::string& id, const std::string& comment) {
  RETURN_IF_ERROR(ctx.Open());
  pb::ReviewRequest req;
  req.set_id(id);
  req.set_comment(comment);
  pb::AccessRequest resp;
  auto stub = ctx.Stub<pb::AccessService>();
  grpc::Status st = verb == "approve" ? stub->ApproveRequest(CallContext().get(), req, &resp)
                                      : stub->DenyRequest(CallContext().get(), req, &resp);
  RETURN_IF_ERROR(FromGrpc(st, ctx.profile()));
  std::string headline;
  if (resp.state() == "approved") {
    headline = StrCat("Approved: quorum reached, grant ", resp.grant_id(), " is active.");
  } else if (resp.state() == "denied") {
    headline = "Denied.";
  } else {
    headline = StrCat("Approval recorded: ", resp.approvals_size(), " of ",
                            resp.approvals_required(), ".");
  }
  return ShowRequest(ctx, resp, headline);
}

absl::Status Cancel(Context& ctx, const std::string& id) {
  RETURN_IF_ERROR(ctx.Open());
  pb::CancelRequestRequest req;
  req.set_id(id);
  pb::AccessRequest resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::AccessService>()->CancelRequest(CallContext().get(), req, &resp), ctx.profile()));
  return ShowRequest(ctx, resp, "Cancelled.");
}

absl::Status Grants(Context& ctx, bool all) {
  RETURN_IF_ERROR(ctx.Open());
  pb::ListGrantsRequest req;
  req.set_all(all);
  pb::ListGrantsResponse resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::AccessService>()->ListGrants(CallContext().get(), req, &resp), ctx.profile()));
  if (ctx.out().json()) {
    json arr = json::array();
    for (const auto& g : resp.grants()) arr.push_back(GrantJson(g));
    ctx.out().Json(arr);
    return absl::OkStatus();
  }
  if (resp.grants().empty()) ctx.out().text() << (all ? "No grants.\n" : "No active grants.\n");
  for (const auto& g : resp.grants()) PrintGrant(ctx, g);
  return absl::OkStatus();
}

absl::Status Revoke(Context& ctx, const std::string& id, const std::string& reason) {
  RETURN_IF_ERROR(ctx.Open());
  pb::RevokeGrantRequest req;
  req.set_id(id);
  req.set_reason(reason);
  pb::Grant resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::AccessService>()->RevokeGrant(CallContext().get(), req, &resp), ctx.profile()));
  if (ctx.out().json()) {
    ctx.out().Json(GrantJson(resp));
  } else {
    ctx.out().text() << "Revoked grant " << resp.id() << " (" << resp.login() << "); its "
              << resp.certificates() << " certificate(s) are in the next KRL.\n";
  }
  return absl::OkStatus();
}

absl::Status RdpTicket(Context& ctx, const std::string& grant, const std::string& gateway,
                       const std::string& ttl) {
  RETURN_IF_ERROR(ctx.Open());
  pb::CreateRdpTicketRequest req;
  req.set_grant_id(grant);
  if (!ttl.empty()) {
    ASSIGN_OR_RETURN(int64_t seconds, ParseDuration(ttl));
    req.set_ttl_seconds(seconds);
  }
  pb::RdpTicket t;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::AccessService>()->CreateRdpTicket(CallContext().get(), req, &t), ctx.profile()));
  if (ctx.out().json()) {
    ctx.out().Json(json{{"user", t.user()}, {"password", t.password()}, {"target", t.target()},
                        {"expires_unix", t.expires_unix()}});
    return absl::OkStatus();
  }
  ctx.out().text() << "RDP logon for " << t.target() << " through warden-rdpgw, single use, valid until "
                   << UtcText(t.expires_unix()) << ":\n  user name: " << t.user()
                   << "\n  password:  " << t.password() << "\n";
  if (!gateway.empty())
    ctx.out().text() << "  xfreerdp /v:" << gateway << " /u:" << t.user() << " /p:" << t.password()
                     << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddAccessCommands(CLI::App& app, Context& ctx) {
  // The option values live as long as the callbacks that read them.
  struct Flags {
    std::string role, reason, ttl, id, comment;
    bool all = false;
  };
  auto f = std::make_shared<Flags>();
  auto* request = app.add_subcommand("request", "request access to a role");
  request->add_option("--role", f->role, "role name")->required();
  request->add_option("--reason", f->reason, "why, e.g. a change ticket")->required();
  request->add_option("--ttl", f->ttl, "lease length, e.g. 30m (default: the role's max)");
  request->callback([&ctx, f] { ctx.status() = Request(ctx, f->role, f->reason, f->ttl); });

  auto* requests = app.add_subcommand("requests", "list pending requests");
  requests->add_flag("--all", f->all, "include decided requests");
  requests->callback([&ctx, f] { ctx.status() = Requests(ctx, f->all); });

  for (const char* verb : {"approve", "deny"}) {
    auto* cmd = app.add_subcommand(verb, std::string(verb) + " a request");
    cmd->add_option("id", f->id, "request id")->required();
    cmd->add_option("--comment", f->comment, "note for the audit log");
    cmd->callback([&ctx, f, verb] { ctx.status() = Review(ctx, verb, f->id, f->comment); });
  }
  auto* cancel = app.add_subcommand("cancel", "cancel your own pending request");
  cancel->add_option("id", f->id, "request id")->required();
  cancel->callback([&ctx, f] { ctx.status() = Cancel(ctx, f->id); });

  auto* grants = app.add_subcommand("grants", "list your active grants");
  grants->add_flag("--all", f->all, "include ended grants (and others' grants, for approvers/admins)");
  grants->callback([&ctx, f] { ctx.status() = Grants(ctx, f->all); });

  auto* revoke = app.add_subcommand("revoke", "revoke a grant and its certificates");
  revoke->add_option("id", f->id, "grant id")->required();
  revoke->add_option("--reason", f->reason, "why");
  revoke->callback([&ctx, f] { ctx.status() = Revoke(ctx, f->id, f->reason); });

  auto* rdp = app.add_subcommand("rdp", "RDP sessions through warden-rdpgw");
  rdp->require_subcommand(1);
  auto* ticket = rdp->add_subcommand("ticket", "a one-time RDP logon (user name and password) for "
                                               "your grant of an RDP broker role");
  ticket->add_option("grant", f->id, "grant id")->required();
  ticket->add_option("--gateway", f->comment, "HOST:PORT of the gateway: also print an xfreerdp "
                                              "command line");
  ticket->add_option("--ttl", f->ttl, "how long it stays valid (at most and by default 2m)");
  ticket->callback([&ctx, f] { ctx.status() = RdpTicket(ctx, f->id, f->comment, f->ttl); });
}

}  // namespace warden::cli
