// The controller's store in one SQLite database (WAL): every per-domain interface over one
// connection, so that a transaction begun through any of them covers all. The table code lives
// in one file per domain (access.cc, hosts.cc, recordings.cc, vault.cc, users.cc).
#pragma once

#include <memory>
#include <string>

#include "controller/store/access_store.h"
#include "controller/store/audit_store.h"
#include "controller/store/db_lease_store.h"
#include "controller/store/host_store.h"
#include "controller/store/inventory_store.h"
#include "controller/store/recording_store.h"
#include "controller/store/rotation_store.h"
#include "controller/store/user_store.h"
#include "controller/store/vault_store.h"

namespace warden {

namespace sqlite {
class Database;
}

class SqliteStore final : public AccessStore,
                          public HostStore,
                          public RecordingStore,
                          public VaultStore,
                          public UserStore,
                          public AuditStore,
                          public DbLeaseStore,
                          public RotationStore,
                          public InventoryStore {
 public:
  // Opens (creating if missing) the database at `path` and migrates its schema to this
  // program's version (see sqlite/migrations.h). Refuses a database of a newer version, leaving
  // it untouched.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path);

  // What Upgrade did: the schema version found and the one left.
  struct SchemaUpgrade {
    int from = 0;
    int to = 0;
    std::string backup;  // the copy made before migrating; empty when nothing was to be done
  };
  // For a package upgrade (warden-controller migrate): migrates the existing database at `path`
  // to this program's schema, first writing a consistent copy of it to `path`.pre-vFROM (VACUUM
  // INTO; an existing copy of that name is kept, not overwritten). Refuses a missing file (the
  // data directory was not initialised) and a newer schema, changing nothing.
  static absl::StatusOr<SchemaUpgrade> Upgrade(const std::string& path);
  ~SqliteStore() override;

  absl::StatusOr<Transaction> Begin() override;
  absl::StatusOr<Transaction> BeginRead() override;

  // AccessStore
  absl::Status InsertRequest(const RequestRow& r) override;
  absl::StatusOr<std::optional<RequestRow>> GetRequest(std::string_view id) override;
  absl::StatusOr<std::vector<RequestRow>> ListRequests(bool pending_only) override;
  absl::Status UpdateRequest(const RequestRow& r) override;
  absl::StatusOr<bool> AddApproval(std::string_view request_id, std::string_view approver,
                                   int64_t at) override;
  absl::StatusOr<std::vector<ApprovalRow>> ListApprovals(std::string_view request_id) override;
  absl::Status InsertGrant(const GrantRow& g) override;
  absl::StatusOr<std::optional<GrantRow>> GetGrant(std::string_view id) override;
  absl::StatusOr<std::vector<GrantRow>> ListGrants() override;
  absl::StatusOr<std::vector<GrantRow>> ListLiveGrants(int64_t now) override;
  absl::StatusOr<bool> LoginInUse(std::string_view login) override;
  absl::Status RevokeGrant(std::string_view id, int64_t at, std::string_view by) override;
  absl::Status InsertCert(const CertRow& c) override;
  absl::StatusOr<int> CountCerts(std::string_view grant_id) override;
  absl::StatusOr<std::vector<CertRow>> ListRevokedLiveCerts(int64_t now) override;
  absl::Status InsertCaKey(const CaKeyRow& k) override;
  absl::StatusOr<std::vector<CaKeyRow>> ListCaKeys(std::string_view purpose, int tier) override;
  absl::Status SetCaKeyState(std::string_view label, std::string_view state) override;
  absl::StatusOr<uint32_t> GroupGid(
      std::string_view name, const std::function<absl::StatusOr<uint32_t>()>& next_id) override;
  absl::StatusOr<int64_t> GetCounter(std::string_view name) override;
  absl::StatusOr<int64_t> BumpCounter(std::string_view name) override;

  // HostStore
  absl::Status InsertJoinToken(const JoinTokenRow& t) override;
  absl::StatusOr<std::optional<JoinTokenRow>> GetJoinToken(std::string_view hash) override;
  absl::StatusOr<bool> UseJoinToken(std::string_view hash, int64_t at,
                                    std::string_view host_id) override;
  absl::Status InsertHost(const HostRow& h) override;
  absl::StatusOr<std::optional<HostRow>> GetHost(std::string_view id) override;
  absl::StatusOr<std::optional<HostRow>> FindHostByName(std::string_view hostname) override;
  absl::Status SetHostCertExpiry(std::string_view id, int64_t expires) override;
  absl::StatusOr<std::vector<HostRow>> ListHosts() override;
  absl::StatusOr<int> ReplaceHosts(std::string_view hostname, std::string_view kind,
                                   std::string_view by) override;

  // InventoryStore
  absl::Status PutInventory(const InventoryRow& r) override;
  absl::StatusOr<std::optional<InventoryRow>> GetInventory(std::string_view host_id) override;
  absl::StatusOr<std::vector<InventoryRow>> ListInventories() override;
  absl::StatusOr<bool> InsertHostLogin(const HostLoginRow& l) override;
  absl::StatusOr<std::vector<HostLoginCount>> CountHostLogins(int64_t since_us) override;

  // RecordingStore
  absl::Status InsertRecording(const RecordingRow& r) override;
  absl::StatusOr<std::optional<RecordingRow>> GetRecording(std::string_view session_id) override;
  absl::Status AppendRecordingChunk(std::string_view session_id, const RecordingChunkRow& c,
                                    const std::vector<std::string>& commands,
                                    const std::vector<RecordingAlert>& alerts) override;
  absl::Status SealRecording(std::string_view session_id, int64_t ended_ns, uint64_t lost_bytes,
                             ByteSpan seal) override;
  absl::StatusOr<std::vector<RecordingRow>> ListRecordings(const RecordingFilter& f) override;
  absl::StatusOr<std::vector<HostSessionCount>> CountRecordingsByHost(int64_t since_ns) override;
  absl::Status ForEachRecordingChunk(
      std::string_view session_id,
      const std::function<absl::Status(const RecordingChunkRow&)>& fn) override;

  // VaultStore
  absl::Status PutVaultSeal(const VaultSealRow& r) override;
  absl::StatusOr<std::optional<VaultSealRow>> GetVaultSeal() override;
  absl::StatusOr<int64_t> NextSecretVersion(std::string_view path) override;
  absl::Status InsertSecretVersion(const SecretVersionRow& r) override;
  absl::StatusOr<std::optional<SecretVersionRow>> GetSecretVersion(std::string_view path,
                                                                   int64_t version) override;
  absl::StatusOr<std::vector<SecretVersionRow>> ListSecretVersions(std::string_view path) override;
  absl::StatusOr<std::vector<std::string>> ListSecretPaths(std::string_view prefix) override;
  absl::StatusOr<int> DeleteSecretVersions(std::string_view path,
                                           const std::vector<int64_t>& versions, int64_t at,
                                           bool destroy) override;
  absl::Status MarkSecretUsed(std::string_view path, int64_t version, int64_t at) override;
  absl::Status InsertWrap(const WrapRow& w) override;
  absl::StatusOr<std::optional<WrapRow>> GetWrap(std::string_view accessor) override;
  absl::StatusOr<std::optional<WrapRow>> GetWrapByToken(ByteSpan token_hash) override;
  absl::StatusOr<bool> AddAuthorization(std::string_view accessor, std::string_view approver,
                                        std::string_view reason, int64_t at) override;
  absl::StatusOr<std::vector<ApprovalRow>> ListAuthorizations(std::string_view accessor) override;
  absl::StatusOr<bool> UseWrap(std::string_view accessor, int64_t at) override;
  absl::StatusOr<std::optional<CheckoutRow>> GetCheckout(std::string_view path) override;
  absl::Status PutCheckout(const CheckoutRow& c) override;
  absl::Status DeleteCheckout(std::string_view path) override;
  absl::StatusOr<std::vector<CheckoutRow>> ListExpiredCheckouts(int64_t now) override;

  // UserStore
  absl::Status InsertUser(const UserRow& u) override;
  absl::StatusOr<std::optional<UserRow>> GetUser(std::string_view name) override;
  absl::StatusOr<bool> UseTotpStep(std::string_view name, uint64_t step) override;

  // AuditStore
  absl::Status PutAuditAnchor(const AuditAnchorRow& r) override;
  absl::StatusOr<std::optional<AuditAnchorRow>> GetAuditAnchor() override;

  // DbLeaseStore
  absl::Status InsertDbLease(const DbLeaseRow& r) override;
  absl::StatusOr<std::optional<DbLeaseRow>> GetDbLease(std::string_view id) override;
  absl::Status SetDbLeaseExpiry(std::string_view id, int64_t expires,
                                std::optional<int64_t> only_if_expires) override;
  absl::StatusOr<std::vector<DbLeaseRow>> ListLiveDbLeases(std::string_view id_prefix,
                                                           std::string_view owner) override;
  absl::StatusOr<std::vector<DbLeaseRow>> ListDueDbLeases(int64_t now, int limit) override;
  absl::Status MarkDbLeaseRevoked(std::string_view id, int64_t at) override;
  absl::Status NoteDbLeaseFailure(std::string_view id, int attempts, int64_t next_attempt,
                                  std::string_view error) override;

  // RotationStore
  absl::StatusOr<std::optional<RotationRow>> GetRotation(std::string_view path) override;
  absl::Status PutRotation(const RotationRow& r) override;
  absl::StatusOr<std::vector<RotationRow>> ListRotations() override;

 private:
  explicit SqliteStore(std::unique_ptr<sqlite::Database> db);
  std::unique_ptr<sqlite::Database> db_;
};

}  // namespace warden
