// The audit log: audit verify.
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/commands/commands.h"
#include "common/audit_chain.h"
#include "common/files.h"
#include "common/sshcert.h"
#include "common/strings.h"
#include "warden/v1/audit.grpc.pb.h"

namespace pb = ::warden::v1;
using nlohmann::json;

namespace warden::cli {
namespace {

absl::Status AuditVerify(Context& ctx, const std::string& file, const std::string& key_file,
                         bool allow_unsealed_tail) {
  std::string text, key_line;
  std::optional<AuditHead> head;
  if (!file.empty()) {
    ASSIGN_OR_RETURN(text, ReadFile(file));
    if (key_file.empty()) return absl::InvalidArgumentError("--file needs --key (the audit public key)");
    ASSIGN_OR_RETURN(key_line, ReadFile(key_file));
  } else {
    RETURN_IF_ERROR(ctx.Open());
    auto call = CallContext();
    auto reader = ctx.Stub<pb::AuditService>()->ExportLog(call.get(), {});
    pb::AuditChunk chunk;
    while (reader->Read(&chunk)) {
      text += chunk.data();
      if (chunk.last()) {
        head = AuditHead{chunk.head_seq(), chunk.head_hash(),
                         Bytes(chunk.head_signature().begin(), chunk.head_signature().end())};
        key_line = chunk.audit_public_key();
      }
    }
    RETURN_IF_ERROR(FromGrpc(reader->Finish(), ctx.profile()));
    if (!head) return absl::DataLossError("the export ended without a signed head");
  }
  ASSIGN_OR_RETURN(PublicKey key, ParseAuthorizedKey(key_line, nullptr));
  auto report = VerifyAuditLog(text, key, head, allow_unsealed_tail);
  if (!report.ok()) {
    return absl::DataLossError(StrCat("audit log verification FAILED: ",
                                            report.status().message()));
  }
  if (ctx.out().json()) {
    ctx.out().Json(json{{"ok", true},
                      {"lines", report->lines},
                      {"checkpoints", report->checkpoints},
                      {"unsealed", report->unsealed}}
                     );
  } else {
    ctx.out().text() << "Audit log OK: " << report->lines << " events, " << report->checkpoints
              << " signed checkpoints" << (head ? ", signed head matches" : "");
    if (report->unsealed > 0) {
      ctx.out().text() << "; WARNING: the last " << report->unsealed
                << " event(s) follow the last checkpoint and are not sealed";
    }
    ctx.out().text() << "; audit key " << Fingerprint(key.blob) << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddAuditCommands(CLI::App& app, Context& ctx) {
  // The option values live as long as the callbacks that read them.
  struct Flags {
    std::string file, key_file;
    bool allow_unsealed_tail = false;
  };
  auto f = std::make_shared<Flags>();
  auto* audit = app.add_subcommand("audit", "audit log");
  audit->require_subcommand(1);
  auto* verify = audit->add_subcommand("verify", "verify the hash chain and signatures");
  verify->add_option("--file", f->file, "verify a local copy instead of exporting from the controller");
  verify->add_option("--key", f->key_file, "audit public key (with --file)");
  verify->add_flag("--allow-unsealed-tail", f->allow_unsealed_tail,
                   "with --file: accept events after the last signed checkpoint (a copy of a "
                   "running controller's log); nothing proves none were cut off");
  verify->callback(
      [&ctx, f] { ctx.status() = AuditVerify(ctx, f->file, f->key_file, f->allow_unsealed_tail); });
}

}  // namespace warden::cli
