// The audit log: audit verify; alerts.
#include <ctime>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/commands/commands.h"
#include "common/audit_chain.h"
#include "common/duration.h"
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

// One alert as a line (and its evidence on the next).
void PrintAlert(Context& ctx, const pb::AuditAlert& a) {
  ctx.out().text() << a.ts() << " " << a.severity() << " " << a.name() << ": " << a.summary()
                   << " (audit seq " << a.seq() << ")\n";
  json e = json::parse(a.event_json(), nullptr, false);
  if (!e.is_object() || !e.contains("evidence") || !e["evidence"].is_object()) return;
  const json& ev = e["evidence"];
  std::string line;
  if (ev.contains("session") && ev["session"].is_string())
    line += StrCat("session ", ev["session"].get<std::string>());
  if (ev.contains("offset") && ev["offset"].is_string() && ev.contains("offset_seconds") &&
      ev["session"].is_string())
    line += StrCat(" at ", ev["offset"].get<std::string>(), " (wardenctl play ",
                   ev["session"].get<std::string>(), " --from ", ev["offset_seconds"].dump(), ")");
  if (ev.contains("events") && ev["events"].is_array() && !ev["events"].empty())
    line += StrCat(line.empty() ? "" : "; ", "events ", ev["events"].dump());
  if (!line.empty()) ctx.out().text() << "    evidence: " << line << "\n";
}

absl::Status Alerts(Context& ctx, const std::string& since, const std::string& severity,
                    bool follow, uint32_t limit) {
  pb::ListAlertsRequest req;
  if (!since.empty()) {
    ASSIGN_OR_RETURN(int64_t ago, ParseDuration(since));
    req.set_since_unix(static_cast<int64_t>(time(nullptr)) - ago);
  }
  req.set_severity(severity);
  req.set_limit(limit);
  RETURN_IF_ERROR(ctx.Open());
  bool any = false;
  for (;;) {
    pb::ListAlertsResponse resp;
    auto call = CallContext();
    RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::AuditService>()->ListAlerts(call.get(), req, &resp),
                             ctx.profile()));
    if (ctx.out().json()) {
      // One document: an array; with --follow, one per round (JSON lines).
      json list = json::array();
      for (const pb::AuditAlert& a : resp.alerts())
        list.push_back(json::parse(a.event_json(), nullptr, false));
      if (!follow || !list.empty()) ctx.out().Json(list);
    } else {
      for (const pb::AuditAlert& a : resp.alerts()) PrintAlert(ctx, a);
    }
    any = any || resp.alerts_size() > 0;
    if (!follow) break;
    std::cout.flush();
    req.set_after_seq(resp.last_seq());
    req.set_limit(0);
    // A full page: more are waiting, read on at once.
    if (resp.alerts_size() < 1000) std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  if (!any && !ctx.out().json()) ctx.out().text() << "No alerts.\n";
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

  struct AlertFlags {
    std::string since, severity;
    bool follow = false;
    uint32_t limit = 100;
  };
  auto a = std::make_shared<AlertFlags>();
  auto* alerts = app.add_subcommand(
      "alerts", "alerts: detection rules' findings, reconcile breaks, SIEM sinks behind");
  alerts->add_option("--since", a->since, "only those of the last DURATION (e.g. 24h, 7d)");
  alerts->add_option("--severity", a->severity, "critical or warning: those only (default: all)")
      ->check(CLI::IsMember({"critical", "warning"}));
  alerts->add_option("--limit", a->limit, "at most this many, the newest (default 100)");
  alerts->add_flag("--follow", a->follow, "then print new ones as they come (Ctrl-C ends)");
  alerts->callback([&ctx, a] { ctx.status() = Alerts(ctx, a->since, a->severity, a->follow, a->limit); });
}

}  // namespace warden::cli
