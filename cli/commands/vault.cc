// The vault and its seal: operator status/unseal/seal, vault put/get/list/metadata/delete/
// destroy/authorize/lookup/unwrap/checkin.
#include <openssl/crypto.h>

#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "cli/commands/commands.h"
#include "common/files.h"
#include "common/strings.h"
#include "warden/v1/vault.grpc.pb.h"

namespace pb = ::warden::v1;
using nlohmann::json;

namespace warden::cli {
namespace {

// --- vault ---
absl::Status VaultStatusShow(Context& ctx, const pb::VaultStatus& st) {
  if (ctx.out().json()) {
    ctx.out().Json(json{{"initialized", st.initialized()}, {"sealed", st.sealed()},
                      {"seal", st.seal()}, {"shares", st.shares()},
                      {"threshold", st.threshold()}, {"progress", st.progress()}});
    return absl::OkStatus();
  }
  if (!st.initialized()) {
    ctx.out().text() << "Vault: not initialised\n";
    return absl::OkStatus();
  }
  ctx.out().text() << "Vault: " << (st.sealed() ? "SEALED" : "unsealed") << " (seal: " << st.seal()
            << ", " << st.threshold() << " of " << st.shares() << " shares";
  if (st.sealed() && st.progress() > 0) ctx.out().text() << "; " << st.progress() << " given so far";
  ctx.out().text() << ")\n";
  return absl::OkStatus();
}

absl::Status OperatorStatus(Context& ctx) {
  RETURN_IF_ERROR(ctx.Open());
  pb::VaultStatus st;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::VaultService>()->Status(CallContext().get(), {}, &st), ctx.profile()));
  return VaultStatusShow(ctx, st);
}

absl::Status OperatorUnseal(Context& ctx, std::string share) {
  RETURN_IF_ERROR(ctx.Open());
  if (share.empty()) share = Prompt("Unseal share", true);
  pb::UnsealRequest req;
  req.set_share(share);
  OPENSSL_cleanse(share.data(), share.size());
  pb::VaultStatus st;
  absl::Status rpc = FromGrpc(ctx.Stub<pb::VaultService>()->Unseal(CallContext().get(), req, &st), ctx.profile());
  OPENSSL_cleanse(req.mutable_share()->data(), req.share().size());
  RETURN_IF_ERROR(rpc);
  return VaultStatusShow(ctx, st);
}

absl::Status OperatorSeal(Context& ctx) {
  RETURN_IF_ERROR(ctx.Open());
  pb::VaultStatus st;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::VaultService>()->Seal(CallContext().get(), {}, &st), ctx.profile()));
  return VaultStatusShow(ctx, st);
}

absl::Status VaultPut(Context& ctx, const std::string& path, const std::string& value, const std::string& file) {
  RETURN_IF_ERROR(ctx.Open());
  pb::PutSecretRequest req;
  req.set_path(path);
  if (!value.empty()) {
    req.set_value(value);
  } else if (!file.empty()) {
    ASSIGN_OR_RETURN(std::string v, ReadFile(file));
    req.set_value(std::move(v));
  } else {
    std::string v((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    req.set_value(std::move(v));
  }
  pb::PutSecretResponse resp;
  absl::Status rpc = FromGrpc(ctx.Stub<pb::VaultService>()->Put(CallContext().get(), req, &resp), ctx.profile());
  OPENSSL_cleanse(req.mutable_value()->data(), req.value().size());
  RETURN_IF_ERROR(rpc);
  if (ctx.out().json()) {
    ctx.out().Json(json{{"path", path}, {"version", resp.version()}});
  } else {
    ctx.out().text() << "Stored " << path << " version " << resp.version() << "\n";
  }
  return absl::OkStatus();
}

absl::Status ShowSecret(Context& ctx, const std::string& path, pb::GetSecretResponse& resp) {
  if (!resp.wrapping_token().empty()) {
    const pb::WrapInfo& w = resp.wrap();
    if (ctx.out().json()) {
      ctx.out().Json(json{{"path", path}, {"version", resp.version()}, {"wrapped", true},
                        {"token", resp.wrapping_token()}, {"accessor", w.accessor()},
                        {"expires", w.expires_unix()},
                        {"approvals_required", w.approvals_required()}});
    } else {
      ctx.out().text() << path << " is under dual control: " << w.approvals_required()
                << " authorizations are needed before you can read it.\n"
                << "  accessor: " << w.accessor() << "   (give this to approvers: wardenctl vault authorize "
                << w.accessor() << " --reason ...)\n"
                << "  token:    " << resp.wrapping_token()
                << "   (yours alone, works once: wardenctl vault unwrap TOKEN)\n"
                << "  expires:  " << When(w.expires_unix()) << " if unused\n";
    }
    return absl::OkStatus();
  }
  if (ctx.out().json()) {
    json j = {{"path", path}, {"version", resp.version()}, {"value", resp.value()}};
    if (resp.checked_out_until_unix()) j["checked_out_until"] = resp.checked_out_until_unix();
    ctx.out().Json(j);
  } else {
    ctx.out().text() << resp.value();
    if (!resp.value().empty() && resp.value().back() != '\n') ctx.out().text() << "\n";
    if (resp.checked_out_until_unix())
      ctx.out().note() << "[checked out to you until " << When(resp.checked_out_until_unix())
                << "; wardenctl vault checkin " << path << "]\n";
  }
  ctx.out().text().flush();
  OPENSSL_cleanse(resp.mutable_value()->data(), resp.value().size());
  return absl::OkStatus();
}

absl::Status VaultGet(Context& ctx, const std::string& path, int64_t version) {
  RETURN_IF_ERROR(ctx.Open());
  pb::GetSecretRequest req;
  req.set_path(path);
  req.set_version(version);
  pb::GetSecretResponse resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::VaultService>()->Get(CallContext().get(), req, &resp), ctx.profile()));
  return ShowSecret(ctx, path, resp);
}

absl::Status VaultUnwrap(Context& ctx, std::string token) {
  RETURN_IF_ERROR(ctx.Open());
  if (token.empty()) token = Prompt("Wrapping token", true);
  pb::UnwrapRequest req;
  req.set_token(token);
  pb::GetSecretResponse resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::VaultService>()->Unwrap(CallContext().get(), req, &resp), ctx.profile()));
  return ShowSecret(ctx, resp.wrap().path(), resp);
}

absl::Status VaultList(Context& ctx, const std::string& prefix) {
  RETURN_IF_ERROR(ctx.Open());
  pb::ListSecretsRequest req;
  req.set_prefix(prefix);
  pb::ListSecretsResponse resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::VaultService>()->List(CallContext().get(), req, &resp), ctx.profile()));
  if (ctx.out().json()) {
    ctx.out().Json(json(std::vector<std::string>(resp.paths().begin(), resp.paths().end())));
  } else {
    for (const auto& p : resp.paths()) ctx.out().text() << p << "\n";
  }
  return absl::OkStatus();
}

absl::Status VaultMetadata(Context& ctx, const std::string& path) {
  RETURN_IF_ERROR(ctx.Open());
  pb::SecretMetadataRequest req;
  req.set_path(path);
  pb::SecretMetadata resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::VaultService>()->Metadata(CallContext().get(), req, &resp), ctx.profile()));
  if (ctx.out().json()) {
    json arr = json::array();
    for (const auto& v : resp.versions()) {
      arr.push_back({{"version", v.version()}, {"created", v.created_unix()},
                     {"created_by", v.created_by()}, {"deleted", v.deleted_unix()},
                     {"destroyed", v.destroyed_unix()}, {"used", v.used_unix()}});
    }
    ctx.out().Json(arr);
    return absl::OkStatus();
  }
  for (const auto& v : resp.versions()) {
    ctx.out().text() << path << " v" << v.version() << "  " << When(v.created_unix()) << " by "
              << v.created_by();
    if (v.destroyed_unix()) ctx.out().text() << "  DESTROYED " << When(v.destroyed_unix());
    else if (v.deleted_unix()) ctx.out().text() << "  deleted " << When(v.deleted_unix());
    if (v.used_unix()) ctx.out().text() << "  USED " << When(v.used_unix()) << " (rotate it)";
    ctx.out().text() << "\n";
  }
  return absl::OkStatus();
}

absl::Status VaultDelete(Context& ctx, const std::string& path, const std::vector<int64_t>& versions, bool destroy) {
  RETURN_IF_ERROR(ctx.Open());
  pb::DeleteSecretRequest req;
  req.set_path(path);
  for (int64_t v : versions) req.add_versions(v);
  req.set_destroy(destroy);
  pb::DeleteSecretResponse resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::VaultService>()->Delete(CallContext().get(), req, &resp), ctx.profile()));
  ctx.out().text() << (destroy ? "Destroyed " : "Deleted ") << resp.changed() << " version(s) of " << path << "\n";
  return absl::OkStatus();
}

void ShowWrap(Context& ctx, const pb::WrapInfo& w) {
  if (ctx.out().json()) {
    json approvals = json::array();
    for (const auto& a : w.approvals())
      approvals.push_back({{"approver", a.approver()}, {"at", a.at_unix()}, {"reason", a.reason()}});
    ctx.out().Json(json{{"accessor", w.accessor()}, {"path", w.path()}, {"version", w.version()},
                      {"requester", w.requester()}, {"expires", w.expires_unix()},
                      {"approvals_required", w.approvals_required()}, {"approvals", approvals},
                      {"unwrapped", w.unwrapped()}});
    return;
  }
  ctx.out().text() << w.accessor() << ": " << w.requester() << " reads " << w.path() << " v" << w.version()
            << "; " << w.approvals_size() << " of " << w.approvals_required() << " authorizations";
  for (const auto& a : w.approvals()) ctx.out().text() << "\n  " << a.approver() << ": " << a.reason();
  ctx.out().text() << "\n  " << (w.unwrapped() ? "unwrapped" : "expires " + When(w.expires_unix())) << "\n";
}

absl::Status VaultAuthorize(Context& ctx, const std::string& accessor, const std::string& reason) {
  RETURN_IF_ERROR(ctx.Open());
  pb::AuthorizeRequest req;
  req.set_accessor(accessor);
  req.set_reason(reason);
  pb::WrapInfo resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::VaultService>()->Authorize(CallContext().get(), req, &resp), ctx.profile()));
  ShowWrap(ctx, resp);
  return absl::OkStatus();
}

absl::Status VaultLookup(Context& ctx, const std::string& accessor) {
  RETURN_IF_ERROR(ctx.Open());
  pb::WrapRequest req;
  req.set_accessor(accessor);
  pb::WrapInfo resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::VaultService>()->LookupWrap(CallContext().get(), req, &resp), ctx.profile()));
  ShowWrap(ctx, resp);
  return absl::OkStatus();
}

absl::Status VaultCheckIn(Context& ctx, const std::string& path) {
  RETURN_IF_ERROR(ctx.Open());
  pb::CheckInRequest req;
  req.set_path(path);
  pb::CheckInResponse resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::VaultService>()->CheckIn(CallContext().get(), req, &resp), ctx.profile()));
  ctx.out().text() << "Checked in " << path << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddVaultCommands(CLI::App& app, Context& ctx) {
  // The option values live as long as the callbacks that read them.
  struct Flags {
    std::string share;
    std::string path, value, value_file, accessor, token, reason;
    int64_t version = 0;
    std::vector<int64_t> versions;
  };
  auto f = std::make_shared<Flags>();
  auto* op = app.add_subcommand("operator", "the vault's seal (custodians)");
  op->require_subcommand(1);
  op->add_subcommand("status", "sealed or not, and unseal progress (custodians and admins)")->callback([&ctx] { ctx.status() = OperatorStatus(ctx); });
  auto* unseal = op->add_subcommand("unseal", "give your unseal share (prompted for, not echoed)");
  unseal->add_option("share", f->share, "the share (default: read from the terminal)");
  unseal->callback([&ctx, f] { ctx.status() = OperatorUnseal(ctx, f->share); });
  op->add_subcommand("seal", "seal the vault now (break-glass stop)")->callback([&ctx] { ctx.status() = OperatorSeal(ctx); });

  auto* vault = app.add_subcommand("vault", "secrets: versioned, encrypted, under dual control");
  vault->require_subcommand(1);
  auto* vput = vault->add_subcommand("put", "store a new version (value from --value, --file or stdin)");
  vput->add_option("path", f->path, "e.g. kv/tier0/domain-admin")->required();
  vput->add_option("--value", f->value, "the value (visible in your shell history: prefer stdin)");
  vput->add_option("--file", f->value_file, "read the value from this file");
  vput->callback([&ctx, f] { ctx.status() = VaultPut(ctx, f->path, f->value, f->value_file); });
  auto* vget = vault->add_subcommand("get", "read a secret (or get a wrapping token under dual control)");
  vget->add_option("path", f->path)->required();
  vget->add_option("--version", f->version, "default: the newest");
  vget->callback([&ctx, f] { ctx.status() = VaultGet(ctx, f->path, f->version); });
  auto* vlist = vault->add_subcommand("list", "paths under a prefix");
  vlist->add_option("prefix", f->path, "e.g. kv/tier0/");
  vlist->callback([&ctx, f] { ctx.status() = VaultList(ctx, f->path); });
  auto* vmeta = vault->add_subcommand("metadata", "the versions of a secret");
  vmeta->add_option("path", f->path)->required();
  vmeta->callback([&ctx, f] { ctx.status() = VaultMetadata(ctx, f->path); });
  auto* vdel = vault->add_subcommand("delete", "soft-delete versions (default: the newest)");
  vdel->add_option("path", f->path)->required();
  vdel->add_option("--versions", f->versions, "versions to delete")->delimiter(',');
  vdel->callback([&ctx, f] { ctx.status() = VaultDelete(ctx, f->path, f->versions, false); });
  auto* vdestroy = vault->add_subcommand("destroy", "destroy versions: their ciphertext is overwritten");
  vdestroy->add_option("path", f->path)->required();
  vdestroy->add_option("--versions", f->versions, "versions to destroy")->delimiter(',')->required();
  vdestroy->callback([&ctx, f] { ctx.status() = VaultDelete(ctx, f->path, f->versions, true); });
  auto* vauth = vault->add_subcommand("authorize", "approve a dual-control read (approvers)");
  vauth->add_option("accessor", f->accessor)->required();
  vauth->add_option("--reason", f->reason, "why (audited)")->required();
  vauth->callback([&ctx, f] { ctx.status() = VaultAuthorize(ctx, f->accessor, f->reason); });
  auto* vlookup = vault->add_subcommand("lookup", "what a dual-control request is for, and who approved it");
  vlookup->add_option("accessor", f->accessor)->required();
  vlookup->callback([&ctx, f] { ctx.status() = VaultLookup(ctx, f->accessor); });
  auto* vunwrap = vault->add_subcommand("unwrap", "read the secret behind your authorized wrapping token, once");
  vunwrap->add_option("token", f->token, "the token (default: read from the terminal)");
  vunwrap->callback([&ctx, f] { ctx.status() = VaultUnwrap(ctx, f->token); });
  auto* vcheckin = vault->add_subcommand("checkin", "end your check-out of a secret");
  vcheckin->add_option("path", f->path)->required();
  vcheckin->callback([&ctx, f] { ctx.status() = VaultCheckIn(ctx, f->path); });
}

}  // namespace warden::cli
