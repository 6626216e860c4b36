// Dynamic database credentials: db creds/orphans/rotate-root, lease list/renew/revoke.
#include <ctime>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands/commands.h"
#include "common/duration.h"
#include "common/strings.h"
#include "warden/v1/database.grpc.pb.h"

namespace pb = ::warden::v1;
using nlohmann::json;

namespace warden::cli {
namespace {

json LeaseJson(const pb::DbLease& l) {
  return json{{"id", l.id()},
              {"role", l.role()},
              {"connection", l.connection()},
              {"username", l.username()},
              {"owner", l.owner()},
              {"created_unix", l.created_unix()},
              {"expires_unix", l.expires_unix()},
              {"max_expires_unix", l.max_expires_unix()},
              {"failed_revocations", l.failed_revocations()},
              {"last_error", l.last_error()}};
}

void PrintLease(Context& ctx, const pb::DbLease& l) {
  ctx.out().text() << l.id() << "  " << l.username() << " on " << l.connection() << "  (" << l.owner()
                   << ")  ends " << When(l.expires_unix()) << ", at the latest "
                   << When(l.max_expires_unix()) << "\n";
  if (l.failed_revocations() > 0)
    ctx.out().text() << "  NOT DROPPED: " << l.failed_revocations()
                     << " failed revocation(s), retried: " << l.last_error() << "\n";
}

absl::Status Creds(Context& ctx, const std::string& role, const std::string& ttl) {
  RETURN_IF_ERROR(ctx.Open());
  pb::DbCredsRequest req;
  req.set_role(role);
  if (!ttl.empty()) {
    ASSIGN_OR_RETURN(int64_t secs, ParseDuration(ttl));
    req.set_ttl_seconds(secs);
  }
  pb::DbCreds resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::DatabaseService>()->Creds(CallContext().get(), req, &resp),
                           ctx.profile()));
  if (ctx.out().json()) {
    json j = LeaseJson(resp.lease());
    j["password"] = resp.password();
    j["host"] = resp.host();
    j["port"] = resp.port();
    j["database"] = resp.database();
    ctx.out().Json(j);
    return absl::OkStatus();
  }
  ctx.out().text() << "lease:    " << resp.lease().id() << " (ends " << When(resp.lease().expires_unix())
                   << ")\nusername: " << resp.lease().username() << "\npassword: " << resp.password()
                   << "\nconnect:  psql 'host=" << resp.host() << " port=" << resp.port()
                   << " dbname=" << resp.database() << " user=" << resp.lease().username() << "'\n";
  return absl::OkStatus();
}

absl::Status Orphans(Context& ctx, const std::string& connection) {
  RETURN_IF_ERROR(ctx.Open());
  pb::DbOrphansRequest req;
  req.set_connection(connection);
  pb::DbOrphans resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::DatabaseService>()->Orphans(CallContext().get(), req, &resp),
                           ctx.profile()));
  if (ctx.out().json()) {
    ctx.out().Json(json(std::vector<std::string>(resp.roles().begin(), resp.roles().end())));
    return absl::OkStatus();
  }
  if (resp.roles().empty()) ctx.out().text() << "No orphaned roles on " << connection << "\n";
  for (const std::string& r : resp.roles()) ctx.out().text() << r << "\n";
  return absl::OkStatus();
}

absl::Status Leases(Context& ctx) {
  RETURN_IF_ERROR(ctx.Open());
  pb::DbLeases resp;
  RETURN_IF_ERROR(FromGrpc(
      ctx.Stub<pb::DatabaseService>()->ListLeases(CallContext().get(), {}, &resp), ctx.profile()));
  if (ctx.out().json()) {
    json j = json::array();
    for (const auto& l : resp.leases()) j.push_back(LeaseJson(l));
    ctx.out().Json(j);
    return absl::OkStatus();
  }
  if (resp.leases().empty()) ctx.out().text() << "No live leases\n";
  for (const auto& l : resp.leases()) PrintLease(ctx, l);
  return absl::OkStatus();
}

absl::Status Renew(Context& ctx, const std::string& id, const std::string& increment) {
  RETURN_IF_ERROR(ctx.Open());
  pb::DbRenewRequest req;
  req.set_lease_id(id);
  if (!increment.empty()) {
    ASSIGN_OR_RETURN(int64_t secs, ParseDuration(increment));
    req.set_increment_seconds(secs);
  }
  pb::DbLease resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::DatabaseService>()->Renew(CallContext().get(), req, &resp),
                           ctx.profile()));
  if (ctx.out().json()) {
    ctx.out().Json(LeaseJson(resp));
    return absl::OkStatus();
  }
  PrintLease(ctx, resp);
  return absl::OkStatus();
}

absl::Status Revoke(Context& ctx, const std::string& id, const std::string& prefix) {
  if (id.empty() == prefix.empty())
    return absl::InvalidArgumentError("give a lease id, or --prefix (e.g. --prefix db/readonly/)");
  RETURN_IF_ERROR(ctx.Open());
  pb::DbRevokeRequest req;
  req.set_lease_id(id);
  req.set_prefix(prefix);
  pb::DbRevokeResponse resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::DatabaseService>()->Revoke(CallContext().get(), req, &resp),
                           ctx.profile()));
  if (ctx.out().json()) {
    ctx.out().Json(json{{"revoked", resp.revoked()}});
    return absl::OkStatus();
  }
  ctx.out().text() << "Revoked " << resp.revoked() << " lease(s); their roles are dropped\n";
  return absl::OkStatus();
}

absl::Status RotateRoot(Context& ctx, const std::string& connection) {
  RETURN_IF_ERROR(ctx.Open());
  pb::DbRotateRootRequest req;
  req.set_connection(connection);
  pb::DbRotateRootResponse resp;
  RETURN_IF_ERROR(FromGrpc(
      ctx.Stub<pb::DatabaseService>()->RotateRoot(CallContext().get(), req, &resp), ctx.profile()));
  if (ctx.out().json()) {
    ctx.out().Json(json{{"path", resp.path()}, {"version", resp.version()}});
    return absl::OkStatus();
  }
  ctx.out().text() << "Rotated the admin password of " << connection << ": vaulted at "
                   << resp.path() << ", version " << resp.version() << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddDatabaseCommands(CLI::App& app, Context& ctx) {
  struct Flags {
    std::string role, ttl, connection, id, increment, prefix;
  };
  auto f = std::make_shared<Flags>();
  auto* db = app.add_subcommand("db", "dynamic database credentials: a role that lives as long as its lease");
  db->require_subcommand(1);
  auto* creds = db->add_subcommand("creds", "a brand-new role and password of a policy database role");
  creds->add_option("role", f->role, "a role of the policy's databases.roles")->required();
  creds->add_option("--ttl", f->ttl, "e.g. 30m (default: the role's default_ttl)");
  creds->callback([&ctx, f] { ctx.status() = Creds(ctx, f->role, f->ttl); });
  auto* orphans = db->add_subcommand("orphans", "roles that look like Warden's and that no lease owns (admins)");
  orphans->add_option("connection", f->connection, "a connection of the policy's databases.connections")->required();
  orphans->callback([&ctx, f] { ctx.status() = Orphans(ctx, f->connection); });
  auto* root = db->add_subcommand("rotate-root", "a new password for Warden's own admin of a connection");
  root->add_option("connection", f->connection, "a connection of the policy's databases.connections")->required();
  root->callback([&ctx, f] { ctx.status() = RotateRoot(ctx, f->connection); });

  auto* lease = app.add_subcommand("lease", "leases of database credentials");
  lease->require_subcommand(1);
  lease->add_subcommand("list", "live leases (yours; an admin's: everyone's)")->callback([&ctx] { ctx.status() = Leases(ctx); });
  auto* renew = lease->add_subcommand("renew", "extend a lease (never past its role's max_ttl)");
  renew->add_option("id", f->id)->required();
  renew->add_option("--increment", f->increment, "from now, e.g. 1h (default: the role's default_ttl)");
  renew->callback([&ctx, f] { ctx.status() = Renew(ctx, f->id, f->increment); });
  auto* revoke = lease->add_subcommand("revoke", "end a lease now: its role is dropped");
  revoke->add_option("id", f->id);
  revoke->add_option("--prefix", f->prefix, "every live lease whose id starts with this (admins)");
  revoke->callback([&ctx, f] { ctx.status() = Revoke(ctx, f->id, f->prefix); });
}

}  // namespace warden::cli
