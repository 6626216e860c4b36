// The rows the controller keeps, as plain domain structs shared by the per-domain store
// interfaces (access_store.h, host_store.h, ...) and their backends. No business rules here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"

namespace warden {

struct UserRow {
  std::string name;
  std::string password_hash;
  std::string totp_secret;  // base32
  uint64_t totp_last_step = 0;
};

struct RequestRow {
  std::string id;
  std::string requester;
  std::string role;
  std::string reason;
  int64_t ttl = 0;
  std::string state;  // pending, approved, denied, cancelled
  int64_t created = 0;
  int64_t expires = 0;
  std::string grant_id;
  std::string decided_by;
  std::string note;
};

struct ApprovalRow {
  std::string approver;
  int64_t at = 0;
  std::string reason;
};

struct GrantRow {
  std::string id;
  std::string request_id;
  std::string user;
  std::string role;
  std::string login;
  int tier = 0;
  int64_t start = 0;
  int64_t end = 0;
  int64_t revoked_at = 0;  // 0 = not revoked
  std::string revoked_by;
  uint32_t uid = 0;  // of the ephemeral account; its primary group has the same id
};

struct CertRow {
  uint64_t serial = 0;
  std::string key_id;
  std::string fingerprint;
  std::string grant_id;
  Bytes ca_key;
  int64_t valid_after = 0;
  int64_t valid_before = 0;
};

struct CaKeyRow {
  std::string purpose;  // "user" or "host"
  int tier = 0;
  std::string label;    // KeyStore label
  Bytes public_key;
  std::string state;    // active, retiring, retired
  int64_t created = 0;
};

// The kinds of enrolled machine: a host running wardend, or an SSH gateway (warden-sshgw).
inline constexpr std::string_view kHostKind = "host";
inline constexpr std::string_view kGatewayKind = "gateway";

struct JoinTokenRow {
  std::string hash;  // hex SHA-256 of the token
  int tier = 0;
  std::string labels;  // JSON object
  int64_t created = 0;
  int64_t expires = 0;
  std::string created_by;
  int64_t used_at = 0;  // 0 = unused
  std::string used_by;  // host id
  // JSON array: the only hostnames it enrolls. "[]" (a token made before tokens named their
  // hosts) enrolls nothing.
  std::string hostnames = "[]";
  std::string kind = "host";  // what it enrolls: host (wardend) or gateway (warden-sshgw)
  int uses = 1;        // how many hosts it may enroll
  int used_count = 0;  // how many it has (used_at, used_by: the last one)
};

struct HostRow {
  std::string id;
  std::string hostname;
  int tier = 0;
  std::string labels;  // JSON object
  int64_t enrolled = 0;
  int64_t cert_expires = 0;
  std::string kind = "host";  // host (wardend) or gateway (warden-sshgw)
  // The host enrolled later under the same name and kind (a reimaged machine): this identity
  // no longer works. Empty while it is the current one.
  std::string replaced_by;
};

// A host's inventory of privileged access as it last reported it (common/inventory.h, as JSON).
struct InventoryRow {
  std::string host_id;
  int64_t reported = 0;  // unix seconds
  std::string inventory;
};

// A login of a privileged account that did not go through Warden, from a host's login records.
struct HostLoginRow {
  std::string host_id, key, user, line, from, kind;  // kind: break_glass or bypass
  int64_t at_us = 0;
  int32_t pid = 0;
  int64_t received = 0;  // unix seconds
};

struct HostLoginCount {
  std::string host_id, kind;
  uint64_t logins = 0;
};

// Recorded sessions of one host (or gateway) since some time.
struct HostSessionCount {
  std::string host_id;
  uint64_t sessions = 0;
  uint64_t with_loss = 0;  // sealed with bytes lost
};

struct RecordingRow {
  std::string session_id;
  std::string host_id;
  std::string user, service, tty, rhost;
  int64_t started_ns = 0;
  int64_t ended_ns = 0;  // 0 while the session is live
  uint64_t chunks = 0;
  Bytes last_hash;       // the chain value after the last stored chunk
  uint64_t lost_bytes = 0;
  Bytes seal;            // SSH signature over SealMessage(); empty until sealed
  std::string grant_id;  // the grant whose account logged in (as the host reported it)
  std::vector<std::string> alerts;  // kinds of alert raised in the session (read only)
};

// An alert a host raised in a session's recording (an Alert event), kept beside its chunk.
struct RecordingAlert {
  std::string kind, message;
};

struct RecordingChunkRow {
  uint64_t seq = 0;
  Bytes data;  // events: one LZ4 frame (recorded before LZ4: zstd), as the host sent it
  Bytes hash;  // chain value after this chunk
};

struct RecordingFilter {
  std::string user, host_id, command, grant_id;
  int64_t since_ns = 0, until_ns = 0;  // 0 = unbounded
};

// The vault's seal: how the root key is kept (see controller/core/vault.h).
struct VaultSealRow {
  std::string mode;          // "pkcs11" or "shamir"
  uint32_t set_id = 0;       // of the Shamir split (unseal or recovery shares)
  int shares = 0, threshold = 0;
  Bytes wrapped_root;        // pkcs11: the root key encrypted by the token's KEK; shamir: empty
  Bytes check;               // AES-GCM of a fixed text under the root key: proves a rebuilt key
};

// The audit log's head as of its last checkpoint, kept outside the log file so that a log cut
// at its end is noticed (see controller/core/audit_log.h).
struct AuditAnchorRow {
  uint64_t seq = 0;   // line number of the checkpoint line
  std::string hash;   // hex SHA-256 of that line
  Bytes signature;    // SSH signature by the audit key over HeadMessage(seq, hash)
};

struct SecretVersionRow {
  std::string path;
  int64_t version = 0;
  int64_t created = 0;
  std::string created_by;
  int64_t deleted = 0;       // when soft-deleted (0 = not)
  int64_t destroyed = 0;     // when destroyed: its blobs are gone (0 = not)
  int64_t used = 0;          // when it was last checked in after use (rotate-after-use)
  Bytes wrapped_key;         // the version's data key, under the root key
  Bytes ciphertext;          // the value, under the data key
};

struct WrapRow {
  std::string accessor;
  Bytes token_hash;          // SHA-256 of the wrapping token (the token itself is never stored)
  std::string path;
  int64_t version = 0;
  std::string requester;
  int64_t created = 0, expires = 0;
  int approvals_required = 0;
  std::string approver_groups;  // JSON array
  int64_t unwrapped = 0;     // when (0 = not yet)
  bool checkout = false;     // unwrapping checks the secret out
};

struct CheckoutRow {
  std::string path;
  std::string holder;
  int64_t version = 0, since = 0, until = 0;
};

}  // namespace warden
