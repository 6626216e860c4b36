// VaultService: secrets, the seal, wrapping tokens and check-outs.
#include "controller/api/services_internal.h"

#include "controller/api/call.h"
#include "controller/api/vault_convert.h"
#include "warden/v1/vault.grpc.pb.h"

namespace warden {

namespace pb = ::warden::v1;
using nlohmann::json;

namespace {

// The vault. Values never go into audit events: their HMAC does (value_hmac).
class VaultApi final : public pb::VaultService::CallbackService {
 public:
  explicit VaultApi(ApiCalls& i) : i_(i) {}
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx, const pb::VaultStatusRequest*,
                                   pb::VaultStatus* resp) override {
    return i_.Run(ctx, "VaultService.Status", json::object(), Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(VaultStatus st, i_.c.vault().StatusFor(who));
                    ToProto(st, resp);
                    return json{{"sealed", resp->sealed()}};
                  });
  }
  grpc::ServerUnaryReactor* Unseal(grpc::CallbackServerContext* ctx, const pb::UnsealRequest* req,
                                   pb::VaultStatus* resp) override {
    return i_.Run(ctx, "VaultService.Unseal", json::object(), Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(VaultStatus st, i_.c.vault().Unseal(who, req->share()));
                    ToProto(st, resp);
                    return json{{"sealed", st.sealed}, {"progress", st.progress}};
                  });
  }
  grpc::ServerUnaryReactor* Seal(grpc::CallbackServerContext* ctx, const pb::SealRequest*,
                                 pb::VaultStatus* resp) override {
    return i_.Run(ctx, "VaultService.Seal", json::object(), Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    RETURN_IF_ERROR(i_.c.vault().Seal(who));
                    ToProto(i_.c.vault().Status(), resp);
                    return json{{"sealed", true}};
                  });
  }
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const pb::PutSecretRequest* req,
                                pb::PutSecretResponse* resp) override {
    return i_.Run(ctx, "VaultService.Put", {{"path", req->path()}}, Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(int64_t v, i_.c.vault().Put(who, req->path(), AsBytes(req->value())));
                    resp->set_version(v);
                    return json{{"version", v},
                                {"value_hmac", i_.c.vault().Fingerprint(AsBytes(req->value()))}};
                  });
  }
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const pb::GetSecretRequest* req,
                                pb::GetSecretResponse* resp) override {
    return i_.Run(ctx, "VaultService.Get", {{"path", req->path()}, {"version", req->version()}},
                  Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(SecretRead r, i_.c.vault().Read(who, req->path(), req->version()));
                    return ReadToProto(r, resp);
                  });
  }
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* ctx, const pb::ListSecretsRequest* req,
                                 pb::ListSecretsResponse* resp) override {
    return i_.Run(ctx, "VaultService.List", {{"prefix", req->prefix()}}, Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(auto paths, i_.c.vault().List(who, req->prefix()));
                    for (const auto& p : paths) resp->add_paths(p);
                    return json{{"count", paths.size()}};
                  });
  }
  grpc::ServerUnaryReactor* Metadata(grpc::CallbackServerContext* ctx,
                                     const pb::SecretMetadataRequest* req,
                                     pb::SecretMetadata* resp) override {
    return i_.Run(ctx, "VaultService.Metadata", {{"path", req->path()}}, Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(auto rows, i_.c.vault().Metadata(who, req->path()));
                    resp->set_path(req->path());
                    for (const auto& r : rows) {
                      pb::SecretVersion* v = resp->add_versions();
                      v->set_version(r.version);
                      v->set_created_unix(r.created);
                      v->set_created_by(r.created_by);
                      v->set_deleted_unix(r.deleted);
                      v->set_destroyed_unix(r.destroyed);
                      v->set_used_unix(r.used);
                    }
                    return json{{"versions", rows.size()}};
                  });
  }
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx,
                                   const pb::DeleteSecretRequest* req,
                                   pb::DeleteSecretResponse* resp) override {
    std::vector<int64_t> versions(req->versions().begin(), req->versions().end());
    return i_.Run(ctx, "VaultService.Delete",
                  {{"path", req->path()}, {"versions", versions}, {"destroy", req->destroy()}},
                  Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(int n, i_.c.vault().Delete(who, req->path(), versions,
                                                                req->destroy()));
                    resp->set_changed(n);
                    return json{{"changed", n}};
                  });
  }
  grpc::ServerUnaryReactor* LookupWrap(grpc::CallbackServerContext* ctx,
                                       const pb::WrapRequest* req, pb::WrapInfo* resp) override {
    return i_.Run(ctx, "VaultService.LookupWrap", {{"accessor", req->accessor()}},
                  Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(WrapInfo w, i_.c.vault().LookupWrap(who, req->accessor()));
                    ToProto(w, resp);
                    return json{{"path", w.path}, {"approvals", w.approvals.size()}};
                  });
  }
  grpc::ServerUnaryReactor* Authorize(grpc::CallbackServerContext* ctx,
                                      const pb::AuthorizeRequest* req,
                                      pb::WrapInfo* resp) override {
    return i_.Run(ctx, "VaultService.Authorize",
                  {{"accessor", req->accessor()}, {"reason", req->reason()}}, Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(WrapInfo w,
                                     i_.c.vault().Authorize(who, req->accessor(), req->reason()));
                    ToProto(w, resp);
                    return json{{"path", w.path}, {"version", w.version},
                                {"requester", w.requester}, {"approvals", w.approvals.size()},
                                {"required", w.approvals_required}};
                  });
  }
  grpc::ServerUnaryReactor* Unwrap(grpc::CallbackServerContext* ctx, const pb::UnwrapRequest* req,
                                   pb::GetSecretResponse* resp) override {
    // The token is a bearer secret: only its hash reaches the audit log.
    return i_.Run(ctx, "VaultService.Unwrap",
                  {{"token_hmac", i_.c.vault().Fingerprint(AsBytes(req->token()))}},
                  Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(SecretRead r, i_.c.vault().Unwrap(who, req->token()));
                    return ReadToProto(r, resp);
                  });
  }
  grpc::ServerUnaryReactor* CheckIn(grpc::CallbackServerContext* ctx, const pb::CheckInRequest* req,
                                    pb::CheckInResponse*) override {
    return i_.Run(ctx, "VaultService.CheckIn", {{"path", req->path()}}, Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    RETURN_IF_ERROR(i_.c.vault().CheckIn(who, req->path()));
                    return json::object();
                  });
  }

  grpc::ServerUnaryReactor* Rotate(grpc::CallbackServerContext* ctx,
                                   const pb::RotateSecretRequest* req,
                                   pb::RotateSecretResponse* resp) override {
    return i_.Run(ctx, "VaultService.Rotate", {{"path", req->path()}}, Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(int64_t version, i_.c.rotation().Rotate(who, req->path()));
                    resp->set_version(version);
                    return json{{"version", version}};
                  });
  }
  grpc::ServerUnaryReactor* Reconcile(grpc::CallbackServerContext* ctx,
                                      const pb::ReconcileRequest* req,
                                      pb::ReconcileResponse* resp) override {
    return i_.Run(ctx, "VaultService.Reconcile", {{"prefix", req->prefix()}}, Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(std::vector<ReconcileResult> results,
                                     i_.c.rotation().Reconcile(who, req->prefix()));
                    json outcomes = json::object();
                    for (const ReconcileResult& r : results) {
                      ToProto(r, resp->add_results());
                      outcomes[r.path] = r.outcome;
                    }
                    return json{{"outcomes", outcomes}};
                  });
  }
  grpc::ServerUnaryReactor* Reset(grpc::CallbackServerContext* ctx,
                                  const pb::ResetSecretRequest* req,
                                  pb::ResetSecretResponse*) override {
    return i_.Run(ctx, "VaultService.Reset", {{"path", req->path()}}, Caller::kOperator,
                  [=, this](const Identity& who) -> absl::StatusOr<json> {
                    RETURN_IF_ERROR(i_.c.rotation().Reset(who, req->path()));
                    return json::object();
                  });
  }
  grpc::ServerUnaryReactor* ListRotations(grpc::CallbackServerContext* ctx,
                                          const pb::ListRotationsRequest* req,
                                          pb::ListRotationsResponse* resp) override {
    return i_.Run(ctx, "VaultService.ListRotations", {{"prefix", req->prefix()}},
                  Caller::kOperator, [=, this](const Identity& who) -> absl::StatusOr<json> {
                    ASSIGN_OR_RETURN(std::vector<RotationStatus> targets,
                                     i_.c.rotation().List(who, req->prefix()));
                    for (const RotationStatus& t : targets) ToProto(t, resp->add_targets());
                    return json{{"count", targets.size()}};
                  });
  }

 private:
  // The read in the response, and its summary for the audit log (never the value: its HMAC).
  json ReadToProto(const SecretRead& r, pb::GetSecretResponse* out) {
    ToProto(r, out);
    if (!r.token.empty())
      return json{{"version", r.version}, {"wrapped", true}, {"accessor", r.wrap.accessor}};
    json j = {{"version", r.version}, {"value_hmac", i_.c.vault().Fingerprint(r.value.span())}};
    if (!r.wrap.accessor.empty()) j["accessor"] = r.wrap.accessor;
    if (!r.wrap.path.empty()) j["path"] = r.wrap.path;
    if (r.checked_out_until) j["checked_out_until"] = r.checked_out_until;
    return j;
  }

  ApiCalls& i_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeVaultService(ApiCalls& calls) {
  return std::make_unique<VaultApi>(calls);
}

}  // namespace warden
