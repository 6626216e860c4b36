// The controller's durable state in SQLite (WAL). One connection guarded by a mutex; every
// multi-step change runs inside Transaction. Rows are plain structs: no business rules here.
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <optional>
#include <unordered_map>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

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
};

struct HostRow {
  std::string id;
  std::string hostname;
  int tier = 0;
  std::string labels;  // JSON object
  int64_t enrolled = 0;
  int64_t cert_expires = 0;
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
  Bytes data;  // events, zstd
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

class Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path);
  class Stmt;  // defined in store.cc
  ~Store();

  // A group of calls in one SQLite transaction, holding the store's lock; rolled back unless
  // Commit() succeeds. Made by Begin() / BeginRead(), which fail (nothing is then done) when the
  // database cannot start one. Transactions do not nest: a method that opens one is not called
  // inside one.
  class Transaction {
   public:
    Transaction(Transaction&& o) noexcept : s_(o.s_), lock_(std::move(o.lock_)), done_(o.done_) {
      o.done_ = true;
    }
    Transaction& operator=(Transaction&&) = delete;
    ~Transaction();
    absl::Status Commit();

   private:
    friend class Store;
    Transaction(Store& s, std::unique_lock<std::recursive_mutex> lock)
        : s_(s), lock_(std::move(lock)) {}
    Store& s_;
    std::unique_lock<std::recursive_mutex> lock_;
    bool done_ = false;
  };
  // A write transaction (BEGIN IMMEDIATE: the database's write lock, taken at once). While
  // another process holds that lock (`warden-controller user add`, say) it waits up to 5 s, then
  // fails with UNAVAILABLE.
  absl::StatusOr<Transaction> Begin();
  // A read transaction: one consistent snapshot for several reads, without the write lock.
  absl::StatusOr<Transaction> BeginRead();

  absl::Status InsertUser(const UserRow& u);
  absl::StatusOr<std::optional<UserRow>> GetUser(std::string_view name);
  // Records that `name` used TOTP step `step`, in one statement that only ever moves the step
  // forward: returns false (and changes nothing) when a step at or after `step` was recorded
  // already, i.e. the code was used, concurrently or before.
  absl::StatusOr<bool> UseTotpStep(std::string_view name, uint64_t step);

  absl::Status InsertRequest(const RequestRow& r);
  absl::StatusOr<std::optional<RequestRow>> GetRequest(std::string_view id);
  absl::StatusOr<std::vector<RequestRow>> ListRequests(bool pending_only);
  absl::Status UpdateRequest(const RequestRow& r);
  // Returns false when this approver had already approved.
  absl::StatusOr<bool> AddApproval(std::string_view request_id, std::string_view approver, int64_t at);
  absl::StatusOr<std::vector<ApprovalRow>> ListApprovals(std::string_view request_id);

  absl::Status InsertGrant(const GrantRow& g);
  absl::StatusOr<std::optional<GrantRow>> GetGrant(std::string_view id);
  absl::StatusOr<std::vector<GrantRow>> ListGrants();
  // Grants neither revoked nor ended at `now`.
  absl::StatusOr<std::vector<GrantRow>> ListLiveGrants(int64_t now);
  absl::StatusOr<bool> LoginInUse(std::string_view login);
  absl::Status RevokeGrant(std::string_view id, int64_t at, std::string_view by);

  // Fails with AlreadyExists when the serial is taken.
  absl::Status InsertCert(const CertRow& c);
  absl::StatusOr<int> CountCerts(std::string_view grant_id);
  // Certificates of revoked grants that are still within their validity at `now`.
  absl::StatusOr<std::vector<CertRow>> ListRevokedLiveCerts(int64_t now);

  absl::Status InsertCaKey(const CaKeyRow& k);
  absl::StatusOr<std::vector<CaKeyRow>> ListCaKeys(std::string_view purpose, int tier);
  absl::Status SetCaKeyState(std::string_view label, std::string_view state);

  absl::Status InsertJoinToken(const JoinTokenRow& t);
  absl::StatusOr<std::optional<JoinTokenRow>> GetJoinToken(std::string_view hash);
  // Marks the token used; returns false if it already was (single use, race-free).
  absl::StatusOr<bool> UseJoinToken(std::string_view hash, int64_t at, std::string_view host_id);
  absl::Status InsertHost(const HostRow& h);
  absl::StatusOr<std::optional<HostRow>> GetHost(std::string_view id);
  absl::Status SetHostCertExpiry(std::string_view id, int64_t expires);

  // The gid of a Warden-managed group, allocated from `next_id` on first use; never reused.
  absl::StatusOr<uint32_t> GroupGid(std::string_view name, const std::function<absl::StatusOr<uint32_t>()>& next_id);

  absl::Status InsertRecording(const RecordingRow& r);
  absl::StatusOr<std::optional<RecordingRow>> GetRecording(std::string_view session_id);
  // Stores chunk `c` as the next of `session_id` with the commands it ran and the alerts raised
  // in it, and moves the recording's head; one transaction.
  absl::Status AppendRecordingChunk(std::string_view session_id, const RecordingChunkRow& c,
                                    const std::vector<std::string>& commands,
                                    const std::vector<RecordingAlert>& alerts = {});
  absl::Status SealRecording(std::string_view session_id, int64_t ended_ns, uint64_t lost_bytes,
                             ByteSpan seal);
  absl::StatusOr<std::vector<RecordingRow>> ListRecordings(const RecordingFilter& f);
  // Calls `fn` for every chunk of a session in order; stops at the first error it returns.
  absl::Status ForEachRecordingChunk(std::string_view session_id,
                                     const std::function<absl::Status(const RecordingChunkRow&)>& fn);
  absl::Status PutAuditAnchor(const AuditAnchorRow& r);
  absl::StatusOr<std::optional<AuditAnchorRow>> GetAuditAnchor();
  absl::Status PutVaultSeal(const VaultSealRow& r);
  absl::StatusOr<std::optional<VaultSealRow>> GetVaultSeal();
  // The next version number of `path` (1 for a new path). Call inside a Transaction with the
  // insert that uses it.
  absl::StatusOr<int64_t> NextSecretVersion(std::string_view path);
  absl::Status InsertSecretVersion(const SecretVersionRow& r);
  // `version` 0: the newest.
  absl::StatusOr<std::optional<SecretVersionRow>> GetSecretVersion(std::string_view path,
                                                                   int64_t version);
  // Every version of `path`, blobs left out.
  absl::StatusOr<std::vector<SecretVersionRow>> ListSecretVersions(std::string_view path);
  // Paths that start with `prefix`.
  absl::StatusOr<std::vector<std::string>> ListSecretPaths(std::string_view prefix);
  // Soft delete (restorable) or destroy (the blobs are overwritten). Returns how many changed.
  absl::StatusOr<int> DeleteSecretVersions(std::string_view path, const std::vector<int64_t>& versions,
                                           int64_t at, bool destroy);
  absl::Status MarkSecretUsed(std::string_view path, int64_t version, int64_t at);
  absl::Status InsertWrap(const WrapRow& w);
  absl::StatusOr<std::optional<WrapRow>> GetWrap(std::string_view accessor);
  absl::StatusOr<std::optional<WrapRow>> GetWrapByToken(ByteSpan token_hash);
  // Returns false when this approver had already authorized it.
  absl::StatusOr<bool> AddAuthorization(std::string_view accessor, std::string_view approver,
                                        std::string_view reason, int64_t at);
  absl::StatusOr<std::vector<ApprovalRow>> ListAuthorizations(std::string_view accessor);
  // Marks the wrap unwrapped; false if it already was (exactly once, race-free).
  absl::StatusOr<bool> UseWrap(std::string_view accessor, int64_t at);
  absl::StatusOr<std::optional<CheckoutRow>> GetCheckout(std::string_view path);
  absl::Status PutCheckout(const CheckoutRow& c);
  absl::Status DeleteCheckout(std::string_view path);
  // Check-outs whose lease ended at or before `now`.
  absl::StatusOr<std::vector<CheckoutRow>> ListExpiredCheckouts(int64_t now);
  absl::StatusOr<int64_t> GetCounter(std::string_view name);
  absl::StatusOr<int64_t> BumpCounter(std::string_view name);

 private:
  friend class Transaction;
  explicit Store(sqlite3* db) : db_(db) {}
  absl::Status Exec(const char* sql);
  absl::Status AddColumnIfMissing(const char* table, const char* column, const char* definition);
  absl::StatusOr<Stmt> Prepare(const char* sql);

  sqlite3* db_;
  std::recursive_mutex mu_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;  // prepared once, by SQL text
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool stopping_ = false;  // guarded by ckpt_mu_
  std::thread checkpointer_;
};

}  // namespace warden
