// DatabaseService: dynamic database credentials and their leases.
#include "controller/api/services_internal.h"

#include "controller/api/call.h"
#include "warden/v1/database.grpc.pb.h"

namespace warden {

namespace pb = ::warden::v1;
using nlohmann::json;

namespace {

void ToProto(const DbLeaseRow& l, pb::DbLease* out) {
  out->set_id(l.id);
  out->set_role(l.role);
  out->set_connection(l.connection);
  out->set_username(l.username);
  out->set_owner(l.owner);
  out->set_created_unix(l.created);
  out->set_expires_unix(l.expires);
  out->set_max_expires_unix(l.max_expires);
  out->set_failed_revocations(l.attempts);
  out->set_last_error(l.last_error);
}

// Passwords never go into audit events; lease ids and usernames do.
class DatabaseApi final : public pb::DatabaseService::CallbackService {
 public:
  explicit DatabaseApi(ApiCalls& i) : i_(i) {}
  grpc::ServerUnaryReactor* Creds(grpc::CallbackServerContext* ctx, const pb::DbCredsRequest* req,
                                  pb::DbCreds* resp) override {
    return i_.Run(ctx, "DatabaseService.Creds",
                  {{"role", req->role()}, {"ttl", req->ttl_seconds()}}, Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(DbCredential c,
                                     i_.c.databases().Issue(who, req->role(), req->ttl_seconds()));
                    ToProto(c.lease, resp->mutable_lease());
                    resp->set_password(std::string(c.password.view()));
                    const DbConnectionPolicy& conn =
                        i_.c.policy().databases.connections.at(c.lease.connection);
                    resp->set_host(conn.host);
                    resp->set_port(conn.port);
                    resp->set_database(conn.database);
                    return json{{"lease", c.lease.id}, {"username", c.lease.username},
                                {"expires", c.lease.expires}};
                  });
  }
  grpc::ServerUnaryReactor* Renew(grpc::CallbackServerContext* ctx, const pb::DbRenewRequest* req,
                                  pb::DbLease* resp) override {
    return i_.Run(ctx, "DatabaseService.Renew",
                  {{"lease", req->lease_id()}, {"increment", req->increment_seconds()}},
                  Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(DbLeaseRow l, i_.c.databases().Renew(
                                                       who, req->lease_id(), req->increment_seconds()));
                    ToProto(l, resp);
                    return json{{"expires", l.expires}};
                  });
  }
  grpc::ServerUnaryReactor* Revoke(grpc::CallbackServerContext* ctx, const pb::DbRevokeRequest* req,
                                   pb::DbRevokeResponse* resp) override {
    return i_.Run(ctx, "DatabaseService.Revoke",
                  {{"lease", req->lease_id()}, {"prefix", req->prefix()}}, Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    if (!req->prefix().empty() && !req->lease_id().empty())
                      return absl::InvalidArgumentError("give a lease id or a prefix, not both");
                    int n = 1;
                    if (req->prefix().empty()) {
                      RETURN_IF_ERROR(i_.c.databases().Revoke(who, req->lease_id()));
                    } else {
                      ASSIGN_OR_RETURN(n, i_.c.databases().RevokePrefix(who, req->prefix()));
                    }
                    resp->set_revoked(n);
                    return json{{"revoked", n}};
                  });
  }
  grpc::ServerUnaryReactor* ListLeases(grpc::CallbackServerContext* ctx,
                                       const pb::DbListLeasesRequest*, pb::DbLeases* resp) override {
    return i_.Run(ctx, "DatabaseService.ListLeases", json::object(), Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(std::vector<DbLeaseRow> rows, i_.c.databases().List(who));
                    for (const DbLeaseRow& l : rows) ToProto(l, resp->add_leases());
                    return json{{"count", rows.size()}};
                  });
  }
  grpc::ServerUnaryReactor* Orphans(grpc::CallbackServerContext* ctx,
                                    const pb::DbOrphansRequest* req, pb::DbOrphans* resp) override {
    return i_.Run(ctx, "DatabaseService.Orphans", {{"connection", req->connection()}},
                  Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(std::vector<std::string> roles,
                                     i_.c.databases().Orphans(who, req->connection()));
                    for (const std::string& r : roles) resp->add_roles(r);
                    return json{{"orphans", roles}};
                  });
  }
  grpc::ServerUnaryReactor* RotateRoot(grpc::CallbackServerContext* ctx,
                                       const pb::DbRotateRootRequest* req,
                                       pb::DbRotateRootResponse* resp) override {
    return i_.Run(ctx, "DatabaseService.RotateRoot", {{"connection", req->connection()}},
                  Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                    const auto& conns = i_.c.policy().databases.connections;
                    auto it = conns.find(req->connection());
                    if (it == conns.end())
                      return absl::NotFoundError("no database connection \"" + req->connection() + "\"");
                    const std::string& path = it->second.admin_password_path;
                    ASSIGN_OR_RETURN(int64_t version, i_.c.rotation().Rotate(who, path));
                    resp->set_path(path);
                    resp->set_version(version);
                    return json{{"path", path}, {"version", version}};
                  });
  }

 private:
  ApiCalls& i_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeDatabaseService(ApiCalls& calls) {
  return std::make_unique<DatabaseApi>(calls);
}

}  // namespace warden
