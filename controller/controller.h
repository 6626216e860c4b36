// Composition root of warden-controller: configuration, `init` of a data directory, and the
// object graph that `serve` runs (KeyStore, SqliteStore, Policy, AuditLog, cores).
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "common/files.h"
#include "controller/alerts/alert_forwarder.h"
#include "controller/alerts/detection_runner.h"
#include "controller/alerts/siem_forwarder.h"
#include "controller/api/anonymous_gate.h"
#include "controller/core/audit_log.h"
#include "controller/core/broker.h"
#include "controller/core/certificate_authority.h"
#include "controller/core/coverage.h"
#include "controller/core/db_credentials.h"
#include "controller/core/host_registry.h"
#include "controller/core/host_tasks.h"
#include "controller/core/linux_account_target.h"
#include "controller/core/operator_auth.h"
#include "controller/core/recordings.h"
#include "controller/core/rotation.h"
#include "controller/core/vault.h"
#include "controller/db/postgres_driver.h"
#include "controller/ldap/ldap_target.h"
#include "controller/ssh/ssh_target.h"
#include "controller/keys/pkcs11_keystore.h"
#include "controller/metrics.h"
#include "controller/store/sqlite/sqlite_store.h"

namespace warden {

struct ControllerConfig {
  std::string listen = "127.0.0.1:7443";
  std::string data_dir;
  std::string policy_path;
  Pkcs11Config pkcs11;
  std::string softhsm_conf;  // exported as SOFTHSM2_CONF when set
  int audit_checkpoint_every = 1000;
  // Login and Enroll, per source address (controller.yaml: anonymous_calls: {per_second, burst}).
  AnonymousCallLimits anonymous_calls;
  // Where alerts go besides the audit log (controller.yaml: alerts: {webhook, webhook_ca,
  // syslog, syslog_socket}).
  AlertConfig alerts;
  // Prometheus metrics (controller.yaml: metrics: {listen: HOST:PORT}); empty: none.
  std::string metrics_listen;
};

absl::StatusOr<ControllerConfig> LoadControllerConfig(const std::string& path);

struct InitOptions {
  std::string data_dir;
  std::string policy_path;  // copied into the data dir; empty = write the example policy
  std::string listen = "127.0.0.1:7443";
  std::vector<std::string> server_names = {"localhost", "127.0.0.1"};
  std::string algorithm = "auto";  // auto (kDefaultKeyAlgorithm), ed25519, ecdsa-p256
  std::string pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so";
  std::string admin_user = "admin";
  VaultInit vault;  // --seal pkcs11|shamir --shares N --threshold K
};

// Creates the data directory: SQLite store, SoftHSM2 token with every CA key, TLS material,
// config, policy, the bootstrap admin and the vault's seal. Prints the admin's password and TOTP
// secret, and the vault's shares, once.
absl::Status InitDataDir(const InitOptions& options, std::ostream& out);

class Controller {
 public:
  static absl::StatusOr<std::unique_ptr<Controller>> Open(const ControllerConfig& config,
                                                          const Clock& clock);
  ~Controller();

  KeyStore& keys() { return *keys_; }
  AuditLog& audit() { return *audit_; }
  AccessCore& access() { return *access_; }
  CertificateAuthority& ca() { return *ca_; }
  OperatorAuth& auth() { return *auth_; }
  HostRegistry& hosts() { return *hosts_; }
  HostTasks& host_tasks() { return host_tasks_; }
  Coverage& coverage() { return *coverage_; }
  RecordingArchive& recordings() { return *recordings_; }
  Vault& vault() { return *vault_; }
  DatabaseCredentials& databases() { return *databases_; }
  CredentialRotation& rotation() { return *rotation_; }
  SshBroker& broker() { return *broker_; }
  SiemForwarder& siem() { return *siem_; }
  Metrics& metrics() { return metrics_; }
  // How many grants are live at `now`.
  absl::StatusOr<size_t> grants_live(int64_t now);
  // Starts SIEM forwarding and the detection rules on the audit log (after audit().Open()).
  absl::Status StartAnalytics();
  // Ends their threads (before audit().Close()): cursors stay where they got to. Idempotent;
  // also run by the destructor.
  void StopAnalytics();
  const Policy& policy() const { return *policy_; }
  const ControllerConfig& config() const { return config_; }
  const std::string& ca_pem() const { return ca_pem_; }
  const std::string& server_cert_pem() const { return server_cert_pem_; }
  const SecretBytes& server_key_pem() const { return server_key_pem_; }

 private:
  Controller() = default;
  ControllerConfig config_;
  std::unique_ptr<KeyStore> keys_;
  // Every core gets the interfaces of this one store that it needs.
  std::unique_ptr<SqliteStore> store_;
  std::shared_ptr<const Policy> policy_;
  // Before audit_, which hands it alerts: destroyed after it.
  std::unique_ptr<AlertForwarder> alerts_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<AccessCore> access_;
  std::unique_ptr<CertificateAuthority> ca_;
  std::unique_ptr<OperatorAuth> auth_;
  std::unique_ptr<HostRegistry> hosts_;
  std::unique_ptr<RecordingArchive> recordings_;
  std::unique_ptr<Coverage> coverage_;
  std::unique_ptr<Vault> vault_;
  PostgresDriver postgres_;
  std::unique_ptr<DatabaseCredentials> databases_;
  std::unique_ptr<PostgresRoleTarget> postgres_roles_;
  SshApplianceTarget ssh_appliances_;
  LdapAccountTarget ldap_accounts_;
  std::unique_ptr<AdAccountTarget> ad_accounts_;
  HostTasks host_tasks_;
  std::unique_ptr<LinuxAccountTarget> linux_accounts_;
  std::unique_ptr<CredentialRotation> rotation_;
  std::unique_ptr<SshBroker> broker_;
  Metrics metrics_;
  std::unique_ptr<Detector> detector_;
  std::unique_ptr<DetectionRunner> detection_;
  std::unique_ptr<SiemForwarder> siem_;
  std::string ca_pem_, server_cert_pem_;
  SecretBytes server_key_pem_;
};

inline constexpr std::string_view kClusterCaLabel = "cluster-ca-1";
inline constexpr std::string_view kAuditKeyLabel = "audit-1";
// The HMAC-SHA256 key of the audit log's secret fields and the vault's value fingerprints: a
// generic secret on the token, sensitive and never extractable.
inline constexpr std::string_view kAuditHmacLabel = "audit-hmac-1";

// Data directories made before the HMAC key lived on the token keep it in `key_file`
// (secrets/audit-hmac.key): it is imported onto the token (the same key, so HMACs already in the
// audit log still match) and the file removed. Nothing to do when the token has it and the file
// is gone.
absl::Status MoveAuditHmacKeyToToken(KeyStore& keys, const std::string& key_file);


}  // namespace warden
