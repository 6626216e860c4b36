// The audit log's tamper evidence, shared by the controller (which writes it) and wardenctl
// (which verifies it).
//
// The log is JSON lines. Line n carries "seq": n (from 1) and "prev": the hex SHA-256 of line
// n-1 as written (without its newline; line 1 has 64 zeros). Every so often a "checkpoint" line
// carries "sig", an SSH signature by the audit key over CheckpointMessage(seq, prev). An
// export also carries a signed head (the seq and hash of its last line) so truncating the tail
// is detected too. A copy without a head must end in a checkpoint: lines after the last one
// (the "unsealed tail") could have been cut off unnoticed, so they are refused unless the caller
// accepts them explicitly (a copy taken from a running controller, or after a crash).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/sshkey.h"

namespace warden {

inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

std::string AuditLineHash(std::string_view line);
// The bytes the audit key signs for a checkpoint line `seq` whose previous line hashes to `prev`.
std::string CheckpointMessage(uint64_t seq, std::string_view prev);
// The bytes the audit key signs for an export head: line `seq` hashes to `hash`.
std::string HeadMessage(uint64_t seq, std::string_view hash);

struct AuditHead {
  uint64_t seq = 0;
  std::string hash;   // hex SHA-256 of line `seq`
  Bytes signature;    // SSH signature over HeadMessage(seq, hash)
};

struct AuditVerifyReport {
  uint64_t lines = 0;
  uint64_t checkpoints = 0;
  uint64_t unsealed = 0;  // lines after the last checkpoint (0 with a head: it seals them)
  std::string last_hash = std::string(kGenesisHash);
};

// Verifies the whole log text. Returns an error naming the first line that breaks the chain.
// With `head`, also proves no line after the last one was removed. Without it, the log must end
// in a checkpoint line unless `allow_unsealed_tail`.
absl::StatusOr<AuditVerifyReport> VerifyAuditLog(std::string_view text, const PublicKey& audit_key,
                                                 const std::optional<AuditHead>& head,
                                                 bool allow_unsealed_tail = false);

}  // namespace warden
