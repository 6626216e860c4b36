#include "common/audit_chain.h"

#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace warden {

std::string AuditLineHash(std::string_view line) { return HexEncode(Sha256(AsBytes(line))); }

std::string CheckpointMessage(uint64_t seq, std::string_view prev) {
  return StrCat("warden-audit-checkpoint-v1\n", seq, "\n", prev, "\n");
}

std::string HeadMessage(uint64_t seq, std::string_view hash) {
  return StrCat("warden-audit-head-v1\n", seq, "\n", hash, "\n");
}

absl::StatusOr<AuditVerifyReport> VerifyAuditLog(std::string_view text, const PublicKey& audit_key,
                                                 const std::optional<AuditHead>& head,
                                                 bool allow_unsealed_tail) {
  AuditVerifyReport report;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      return absl::DataLossError(StrCat("line ", report.lines + 1,
                                              " is not terminated: the log was truncated"));
    }
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    const uint64_t n = report.lines + 1;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("seq") || !j["seq"].is_number_unsigned() ||
        !j.contains("prev") || !j["prev"].is_string()) {
      return absl::DataLossError(StrCat("line ", n, " is not a well-formed audit event"));
    }
    if (j["seq"].get<uint64_t>() != n) {
      return absl::DataLossError(StrCat("line ", n, " has seq ", j["seq"].get<uint64_t>(),
                                              ": lines were removed or reordered"));
    }
    if (j["prev"].get<std::string>() != report.last_hash) {
      return absl::DataLossError(StrCat(
          "line ", n, " does not chain to line ", n - 1,
          ": line ", n - 1, " was edited, or lines were removed or reordered"));
    }
    if (j.value("type", "") == "checkpoint") {
      auto sig = Base64Decode(j.value("sig", ""));
      if (!sig.ok() ||
          !VerifySshSignature(audit_key, *sig, AsBytes(CheckpointMessage(n, report.last_hash)))
               .ok()) {
        return absl::DataLossError(StrCat("line ", n,
                                                ": checkpoint signature does not verify with the "
                                                "audit key"));
      }
      report.checkpoints++;
      report.unsealed = 0;
    } else {
      report.unsealed++;
    }
    report.last_hash = AuditLineHash(line);
    report.lines = n;
  }
  if (head) {
    if (!VerifySshSignature(audit_key, head->signature,
                            AsBytes(HeadMessage(head->seq, head->hash)))
             .ok()) {
      return absl::DataLossError("the signed head of the export does not verify with the audit key");
    }
    if (head->seq != report.lines || head->hash != report.last_hash) {
      return absl::DataLossError(StrCat("the controller signed a head at line ", head->seq,
                                              " but the log ends at line ", report.lines,
                                              " with a different hash: lines were removed or "
                                              "edited at the end"));
    }
    report.unsealed = 0;  // the signed head seals them
  } else if (!allow_unsealed_tail && (report.unsealed > 0 || report.lines == 0)) {
    const std::string after =
        report.checkpoints == 0
            ? std::string("the log has no signed checkpoint")
            : StrCat("the log ends in ", report.unsealed,
                     " line(s) after its last signed checkpoint (line ",
                     report.lines - report.unsealed, ")");
    return absl::DataLossError(StrCat(
        after, ": nothing proves lines were not cut off its end. Verify the controller's own "
        "export (wardenctl audit verify without --file), or pass --allow-unsealed-tail to accept "
        "an unsealed tail (a copy of a running controller's log, or one after a crash)"));
  }
  return report;
}

}  // namespace warden
