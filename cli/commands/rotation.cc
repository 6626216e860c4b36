// Rotation and reconciliation: vault rotate/reset/rotation, reconcile.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands/commands.h"
#include "common/strings.h"
#include "warden/v1/vault.grpc.pb.h"

namespace pb = ::warden::v1;
using nlohmann::json;

namespace warden::cli {
namespace {

absl::Status Rotate(Context& ctx, const std::string& path) {
  RETURN_IF_ERROR(ctx.Open());
  pb::RotateSecretRequest req;
  req.set_path(path);
  pb::RotateSecretResponse resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::VaultService>()->Rotate(CallContext().get(), req, &resp),
                           ctx.profile()));
  if (ctx.out().json()) {
    ctx.out().Json(json{{"path", path}, {"version", resp.version()}});
    return absl::OkStatus();
  }
  ctx.out().text() << "Rotated " << path << ": the target has a new password, proven to log in, "
                   << "vaulted as version " << resp.version() << "\n";
  return absl::OkStatus();
}

absl::Status Reset(Context& ctx, const std::string& path) {
  RETURN_IF_ERROR(ctx.Open());
  pb::ResetSecretRequest req;
  req.set_path(path);
  pb::ResetSecretResponse resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::VaultService>()->Reset(CallContext().get(), req, &resp),
                           ctx.profile()));
  if (ctx.out().json()) {
    ctx.out().Json(json{{"path", path}, {"status", "ok"}});
    return absl::OkStatus();
  }
  ctx.out().text() << path << " is no longer drifted: its vaulted password logs in\n";
  return absl::OkStatus();
}

absl::Status Reconcile(Context& ctx, const std::string& prefix) {
  RETURN_IF_ERROR(ctx.Open());
  pb::ReconcileRequest req;
  req.set_prefix(prefix);
  pb::ReconcileResponse resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::VaultService>()->Reconcile(CallContext().get(), req, &resp),
                           ctx.profile()));
  int breaks = 0, failed = 0;
  json j = json::array();
  for (const auto& r : resp.results()) {
    if (r.outcome() == "break" || r.outcome() == "drifted") {
      breaks++;
    } else if (r.outcome() != "ok") {
      failed++;
    }
    j.push_back(json{{"path", r.path()}, {"outcome", r.outcome()}, {"detail", r.detail()}});
    if (!ctx.out().json()) {
      std::string label = r.outcome() == "break" ? "BREAK" : r.outcome();
      ctx.out().text() << label << "  " << r.path() << "  " << r.detail() << "\n";
    }
  }
  if (ctx.out().json()) ctx.out().Json(j);
  // Non-zero for scripts and monitoring: a break first, then anything not proven.
  if (breaks)
    return absl::FailedPreconditionError(StrCat(
        breaks, " reconcile break(s): a vaulted password no longer logs in; investigate, then "
                "wardenctl vault reset PATH"));
  if (failed)
    return absl::UnavailableError(StrCat(failed, " target(s) could not be reconciled"));
  return absl::OkStatus();
}

std::string WhenOrNever(int64_t t) { return t ? When(t) : "never"; }

absl::Status List(Context& ctx, const std::string& prefix) {
  RETURN_IF_ERROR(ctx.Open());
  pb::ListRotationsRequest req;
  req.set_prefix(prefix);
  pb::ListRotationsResponse resp;
  RETURN_IF_ERROR(FromGrpc(
      ctx.Stub<pb::VaultService>()->ListRotations(CallContext().get(), req, &resp), ctx.profile()));
  if (ctx.out().json()) {
    json j = json::array();
    for (const auto& t : resp.targets()) {
      j.push_back(json{{"path", t.path()}, {"kind", t.kind()}, {"status", t.status()},
                       {"version", t.version()}, {"drifted_since_unix", t.drifted_since_unix()},
                       {"last_rotated_unix", t.last_rotated_unix()},
                       {"next_rotation_unix", t.next_rotation_unix()},
                       {"last_reconciled_unix", t.last_reconciled_unix()},
                       {"next_reconcile_unix", t.next_reconcile_unix()},
                       {"failures", t.failures()}, {"last_error", t.last_error()},
                       {"pending_since_unix", t.pending_since_unix()}});
    }
    ctx.out().Json(j);
    return absl::OkStatus();
  }
  if (resp.targets().empty()) ctx.out().text() << "No rotation targets you may rotate\n";
  for (const auto& t : resp.targets()) {
    ctx.out().text() << t.path() << "  " << t.kind() << "  " << t.status() << "  version "
                     << t.version() << "\n  rotated " << WhenOrNever(t.last_rotated_unix())
                     << ", next "
                     << (t.next_rotation_unix() ? When(t.next_rotation_unix())
                                                : "on demand or after use")
                     << "; reconciled " << WhenOrNever(t.last_reconciled_unix()) << ", next "
                     << When(t.next_reconcile_unix()) << "\n";
    if (t.pending_since_unix())
      ctx.out().text() << "  PENDING since " << When(t.pending_since_unix())
                       << ": a rotation not resolved yet\n";
    if (t.status() == "drifted")
      ctx.out().text() << "  DRIFTED since " << When(t.drifted_since_unix()) << ": "
                       << t.last_error() << "\n";
    else if (t.failures())
      ctx.out().text() << "  " << t.failures() << " failed rotation(s), retried "
                       << When(t.next_attempt_unix()) << ": " << t.last_error() << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddRotationCommands(CLI::App& app, Context& ctx) {
  auto path = std::make_shared<std::string>();
  CLI::App* vault = app.get_subcommand("vault");
  auto* rotate = vault->add_subcommand(
      "rotate", "a new password on the target now, proven, then vaulted (rotation targets)");
  rotate->add_option("path", *path, "the vault path of a rotation target")->required();
  rotate->callback([&ctx, path] { ctx.status() = Rotate(ctx, *path); });
  auto* reset = vault->add_subcommand(
      "reset", "clear a drifted target after investigation (admins)");
  reset->add_option("path", *path)->required();
  reset->callback([&ctx, path] { ctx.status() = Reset(ctx, *path); });
  auto* rotation = vault->add_subcommand("rotation", "rotation targets and their state");
  rotation->add_option("prefix", *path, "only paths starting with this");
  rotation->callback([&ctx, path] { ctx.status() = List(ctx, *path); });

  auto* reconcile = app.add_subcommand(
      "reconcile", "prove vaulted passwords still log in; exits non-zero on a break");
  reconcile->add_option("path", *path, "a target's path or a prefix (default: every target)");
  reconcile->callback([&ctx, path] { ctx.status() = Reconcile(ctx, *path); });
}

}  // namespace warden::cli
