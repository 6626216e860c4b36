#include "controller/controller.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/strings.h"
#include "controller/example_policy.h"  // generated from docs/examples/policy.yaml
#include "controller/keys/x509_issuer.h"

namespace warden {
namespace fs = std::filesystem;

namespace {

std::string Resolve(const std::string& base, const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  return (fs::path(base) / p).string();
}

}  // namespace

absl::StatusOr<ControllerConfig> LoadControllerConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  ControllerConfig c;
  const std::string base = fs::path(path).parent_path().string();
  try {
    YAML::Node n = YAML::Load(text);
    c.listen = n["listen"].as<std::string>(c.listen);
    c.data_dir = Resolve(base, n["data_dir"].as<std::string>(base));
    c.policy_path = Resolve(c.data_dir, n["policy"].as<std::string>("policy.yaml"));
    YAML::Node ks = n["keystore"];
    c.pkcs11.module_path = ks["module"].as<std::string>(c.pkcs11.module_path);
    c.pkcs11.token_label = ks["token"].as<std::string>(c.pkcs11.token_label);
    c.pkcs11.sessions = ks["sessions"].as<int>(c.pkcs11.sessions);
    const std::string pin_file = Resolve(c.data_dir, ks["pin_file"].as<std::string>("secrets/token.pin"));
    ASSIGN_OR_RETURN(c.pkcs11.pin, ReadFile(pin_file));
    while (!c.pkcs11.pin.empty() && c.pkcs11.pin.back() == '\n') c.pkcs11.pin.pop_back();
    if (ks["softhsm_conf"]) c.softhsm_conf = Resolve(c.data_dir, ks["softhsm_conf"].as<std::string>());
    c.audit_checkpoint_every = n["audit"]["checkpoint_every"].as<int>(c.audit_checkpoint_every);
    YAML::Node anon = n["anonymous_calls"];
    c.anonymous_calls.per_second = anon["per_second"].as<double>(c.anonymous_calls.per_second);
    c.anonymous_calls.burst = anon["burst"].as<double>(c.anonymous_calls.burst);
    YAML::Node alerts = n["alerts"];
    c.alerts.webhook = alerts["webhook"].as<std::string>("");
    if (alerts["webhook_ca"]) c.alerts.webhook_ca = Resolve(c.data_dir, alerts["webhook_ca"].as<std::string>());
    c.alerts.syslog = alerts["syslog"].as<bool>(false);
    c.alerts.syslog_socket = alerts["syslog_socket"].as<std::string>(c.alerts.syslog_socket);
    c.metrics_listen = n["metrics"]["listen"].as<std::string>("");
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(StrCat(path, ": ", e.what()));
  }
  if (c.audit_checkpoint_every < 1) {
    return absl::InvalidArgumentError(StrCat(path, ": audit.checkpoint_every must be >= 1"));
  }
  if (!(c.anonymous_calls.per_second > 0) || !(c.anonymous_calls.burst >= 1)) {
    return absl::InvalidArgumentError(StrCat(
        path, ": anonymous_calls.per_second must be > 0 and anonymous_calls.burst >= 1"));
  }
  if (!c.alerts.webhook.empty() && c.alerts.webhook.rfind("https://", 0) != 0 &&
      c.alerts.webhook.rfind("http://", 0) != 0) {
    return absl::InvalidArgumentError(
        StrCat(path, ": alerts.webhook must be an http:// or https:// URL"));
  }
  return c;
}

absl::Status InitDataDir(const InitOptions& o, std::ostream& out) {
  const fs::path dir = fs::absolute(o.data_dir);
  if (fs::exists(dir / "controller.yaml")) {
    return absl::AlreadyExistsError(StrCat(dir.string(), " is already initialised; ",
                                                 "use a new --data-dir or remove it first"));
  }
  std::error_code ec;
  for (const char* sub : {"", "tokens", "secrets", "audit", "tls"}) {
    fs::create_directories(dir / sub, ec);
    if (ec) return absl::UnavailableError(StrCat("cannot create ", (dir / sub).string(), ": ", ec.message()));
  }
  fs::permissions(dir / "secrets", fs::perms::owner_all, ec);
  fs::permissions(dir / "tokens", fs::perms::owner_all, ec);

  // Policy first: a bad policy should fail init before any key is made.
  std::string policy_text(kExamplePolicy);
  if (!o.policy_path.empty()) {
    ASSIGN_OR_RETURN(policy_text, ReadFile(o.policy_path));
  }
  ASSIGN_OR_RETURN(Policy policy, ParsePolicy(policy_text));
  RETURN_IF_ERROR(WriteFileAtomic((dir / "policy.yaml").string(), policy_text, 0644));

  // SoftHSM2 token inside the data dir.
  const std::string softhsm_conf = (dir / "softhsm2.conf").string();
  RETURN_IF_ERROR(WriteFileAtomic(softhsm_conf,
                                  StrCat("directories.tokendir = ", (dir / "tokens").string(),
                                               "\nobjectstore.backend = file\nlog.level = ERROR\n"),
                                  0600));
  setenv("SOFTHSM2_CONF", softhsm_conf.c_str(), 1);
  const std::string pin = HexEncode(RandomBytes(16));
  const std::string so_pin = HexEncode(RandomBytes(16));
  RETURN_IF_ERROR(WriteFileAtomic((dir / "secrets/token.pin").string(), pin + "\n", 0600));
  Pkcs11Config p11;
  p11.module_path = o.pkcs11_module;
  p11.pin = pin;
  p11.sessions = 2;
  RETURN_IF_ERROR(Pkcs11KeyStore::InitToken(p11, so_pin));
  ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11KeyStore> keys, Pkcs11KeyStore::Open(p11));

  KeyAlgorithm alg;
  if (o.algorithm == "auto") {
    alg = kDefaultKeyAlgorithm;
  } else {
    ASSIGN_OR_RETURN(alg, KeyAlgorithmFromName(o.algorithm));
  }

  const std::string config_text = StrCat(
      "# warden-controller configuration, written by init\n",
      "listen: ", o.listen, "\n",
      "data_dir: ", dir.string(), "\n",
      "policy: policy.yaml\n",
      "keystore:\n",
      "  module: ", o.pkcs11_module, "\n",
      "  token: ", p11.token_label, "\n",
      "  pin_file: secrets/token.pin\n",
      "  softhsm_conf: softhsm2.conf\n",
      "  sessions: 8\n",
      "audit:\n",
      "  checkpoint_every: 1000\n",
      "# Login and Enroll (no client certificate) per source address: a token bucket.\n",
      "anonymous_calls:\n",
      "  per_second: 10\n",
      "  burst: 20\n");

  SystemClock clock;
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> store,
                   SqliteStore::Open((dir / "warden.db").string()));
  auto shared_policy = std::make_shared<const Policy>(policy);
  AccessCore access(shared_policy, *store, clock);
  CertificateAuthority ca(access, *store, *keys, clock);
  RETURN_IF_ERROR(ca.CreateInitialKeys(alg));
  ASSIGN_OR_RETURN(PublicKey audit_pub, keys->Generate(kAuditKeyLabel, alg));
  RETURN_IF_ERROR(WriteFileAtomic((dir / "audit-key.pub").string(),
                                  FormatAuthorizedKey(audit_pub, "warden-audit") + "\n", 0644));
  RETURN_IF_ERROR(keys->Generate(kClusterCaLabel, alg).status());
  RETURN_IF_ERROR(keys->GenerateMacKey(kAuditHmacLabel));

  // Cluster CA certificate (self-signed by the token key) and the controller's TLS identity.
  const int64_t now = clock.Now();
  ASSIGN_OR_RETURN(EvpPkeyPtr ca_pub, KeyStorePublicEvp(*keys, kClusterCaLabel));
  X509Profile cap;
  cap.common_name = "Warden cluster CA";
  cap.is_ca = true;
  cap.not_before_unix = now - 60;
  cap.not_after_unix = now + 10LL * 365 * 86400;
  ASSIGN_OR_RETURN(X509Ptr ca_cert, IssueX509(*keys, kClusterCaLabel, nullptr, ca_pub.get(), cap));
  ASSIGN_OR_RETURN(std::string ca_pem, CertificateToPem(ca_cert.get()));
  RETURN_IF_ERROR(WriteFileAtomic((dir / "tls/ca.crt").string(), ca_pem, 0644));
  ASSIGN_OR_RETURN(EvpPkeyPtr server_key, GenerateP256Key());
  X509Profile sp;
  sp.common_name = "warden-controller";
  sp.organizational_unit = "controller";
  sp.server_auth = true;
  sp.not_before_unix = now - 60;
  sp.not_after_unix = now + 365 * 86400;
  for (const auto& name : o.server_names) {
    const bool is_ip = name.find('/') == std::string::npos && ParseCidr(name).ok();
    (is_ip ? sp.ip_addresses : sp.dns_names).push_back(name);
  }
  ASSIGN_OR_RETURN(X509Ptr server_cert, IssueX509(*keys, kClusterCaLabel, ca_cert.get(),
                                                  server_key.get(), sp));
  ASSIGN_OR_RETURN(std::string server_pem, CertificateToPem(server_cert.get()));
  ASSIGN_OR_RETURN(std::string server_key_pem, PrivateKeyToPem(server_key.get()));
  RETURN_IF_ERROR(WriteFileAtomic((dir / "tls/server.crt").string(), server_pem, 0644));
  RETURN_IF_ERROR(WriteFileAtomic((dir / "secrets/server.key").string(), server_key_pem, 0600));
  OPENSSL_cleanse(server_key_pem.data(), server_key_pem.size());

  OperatorAuth auth(shared_policy, *store, *keys, clock, std::string(kClusterCaLabel),
                    std::move(ca_cert));
  ASSIGN_OR_RETURN(NewUserSecrets admin, auth.CreateUser(o.admin_user));
  ASSIGN_OR_RETURN(std::vector<std::string> shares, InitializeVault(*store, *keys, o.vault));
  RETURN_IF_ERROR(WriteFileAtomic((dir / "controller.yaml").string(), config_text, 0644));

  out << "Initialised " << dir.string() << "\n"
      << "  keys on PKCS#11 token \"" << p11.token_label << "\" (" << KeyAlgorithmName(alg)
      << "): user CA and host CA for tiers 0-" << kMaxTier << ", cluster CA, audit key\n"
      << "  config:  " << (dir / "controller.yaml").string() << "\n"
      << "  CA cert: " << (dir / "tls/ca.crt").string() << " (give this to operators)\n"
      << "  audit key: " << (dir / "audit-key.pub").string()
      << " (for wardenctl audit verify --file)\n\n"
      << "Bootstrap admin (shown once, store it now):\n"
      << "  user:        " << o.admin_user << "\n"
      << "  password:    " << admin.password << "\n"
      << "  TOTP secret: " << admin.totp_secret << "\n"
      << "  TOTP URI:    " << admin.otpauth_uri << "\n\n";
  if (o.vault.mode == "shamir") {
    out << "Vault sealed with Shamir shares: " << o.vault.threshold << " of " << o.vault.shares
        << " unseal it (wardenctl operator unseal), one per custodian.\n";
  } else {
    out << "Vault key-encryption key on the token (the controller unseals itself). Recovery\n"
        << "shares, " << o.vault.threshold << " of " << o.vault.shares
        << " rebuild the vault without the token (wardenctl operator unseal):\n";
  }
  out << "Give each share to a different custodian (shown once, never stored):\n";
  for (const std::string& share : shares) out << "  " << share << "\n";
  return absl::OkStatus();
}

absl::Status MoveAuditHmacKeyToToken(KeyStore& keys, const std::string& key_file) {
  constexpr std::string_view kProbe = "warden-audit-hmac-probe";
  absl::StatusOr<Bytes> on_token = keys.Mac(kAuditHmacLabel, AsBytes(kProbe));
  if (!on_token.ok() && on_token.status().code() != absl::StatusCode::kNotFound)
    return on_token.status();
  std::error_code ec;
  if (!fs::exists(key_file, ec)) {
    if (on_token.ok()) return absl::OkStatus();
    return absl::FailedPreconditionError(StrCat(
        "the audit HMAC key is neither on the token (label ", kAuditHmacLabel, ") nor in ",
        key_file, "; restore the data directory (token and secrets) from its backup"));
  }
  ASSIGN_OR_RETURN(std::string hex, ReadFile(key_file));
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.pop_back();
  absl::StatusOr<Bytes> raw = HexDecode(hex);
  OPENSSL_cleanse(hex.data(), hex.size());
  if (!raw.ok() || raw->empty())
    return absl::DataLossError(StrCat(key_file, " does not hold a hex HMAC key"));
  SecretBytes key(*raw);
  OPENSSL_cleanse(raw->data(), raw->size());
  // Imported unless a previous start imported it and stopped before removing the file.
  if (!on_token.ok()) RETURN_IF_ERROR(keys.ImportMacKey(kAuditHmacLabel, key.span()));
  ASSIGN_OR_RETURN(Bytes token_mac, keys.Mac(kAuditHmacLabel, AsBytes(kProbe)));
  if (token_mac != HmacSha256(key.span(), AsBytes(kProbe)))
    return absl::DataLossError(StrCat(
        "the token's audit HMAC key (", kAuditHmacLabel, ") differs from the one in ", key_file,
        "; keep whichever the audit log was written with and remove the other"));
  if (!fs::remove(key_file, ec) || ec)
    return absl::UnavailableError(StrCat("the audit HMAC key is on the token now, but ", key_file,
                                         " cannot be removed: ", ec.message()));
  std::cerr << "warden-controller: moved the audit HMAC key from " << key_file
            << " onto the token (" << kAuditHmacLabel << ")\n";
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Controller>> Controller::Open(const ControllerConfig& config,
                                                             const Clock& clock) {
  std::unique_ptr<Controller> c(new Controller());
  c->config_ = config;
  if (!config.softhsm_conf.empty()) setenv("SOFTHSM2_CONF", config.softhsm_conf.c_str(), 1);
  ASSIGN_OR_RETURN(Policy policy, LoadPolicyFile(config.policy_path));
  c->policy_ = std::make_shared<const Policy>(std::move(policy));
  ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11KeyStore> keys, Pkcs11KeyStore::Open(config.pkcs11));
  c->keys_ = std::move(keys);
  ASSIGN_OR_RETURN(c->store_, SqliteStore::Open(config.data_dir + "/warden.db"));
  ASSIGN_OR_RETURN(c->ca_pem_, ReadFile(config.data_dir + "/tls/ca.crt"));
  ASSIGN_OR_RETURN(c->server_cert_pem_, ReadFile(config.data_dir + "/tls/server.crt"));
  ASSIGN_OR_RETURN(std::string key_pem, ReadFile(config.data_dir + "/secrets/server.key"));
  c->server_key_pem_ = SecretBytes(AsBytes(key_pem));
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  RETURN_IF_ERROR(MoveAuditHmacKeyToToken(*c->keys_, config.data_dir + "/secrets/audit-hmac.key"));
  AuditLog::Options ao;
  ao.path = config.data_dir + "/audit/audit.log";
  ao.key_label = std::string(kAuditKeyLabel);
  ao.hmac_key_label = std::string(kAuditHmacLabel);
  ao.checkpoint_every = config.audit_checkpoint_every;
  c->audit_ = std::make_unique<AuditLog>(std::move(ao), *c->keys_, *c->store_, clock);
  c->alerts_ = std::make_unique<AlertForwarder>(config.alerts);
  c->audit_->SetAlertSink(c->alerts_.get());
  c->access_ = std::make_unique<AccessCore>(c->policy_, *c->store_, clock);
  c->ca_ = std::make_unique<CertificateAuthority>(*c->access_, *c->store_, *c->keys_, clock);
  RETURN_IF_ERROR(c->ca_->EnsureHostCas());
  ASSIGN_OR_RETURN(X509Ptr ca_cert, ReadCertificatePem(c->ca_pem_));
  c->auth_ = std::make_unique<OperatorAuth>(c->policy_, *c->store_, *c->keys_, clock,
                                            std::string(kClusterCaLabel), std::move(ca_cert));
  ASSIGN_OR_RETURN(X509Ptr host_ca_cert, ReadCertificatePem(c->ca_pem_));
  c->hosts_ = std::make_unique<HostRegistry>(*c->policy_, *c->store_, *c->store_, *c->keys_,
                                             *c->ca_, clock, std::string(kClusterCaLabel),
                                             std::move(host_ca_cert));
  // Recordings are sealed with the audit key: both are the controller's evidence.
  c->recordings_ = std::make_unique<RecordingArchive>(*c->policy_, *c->store_, *c->store_,
                                                      *c->store_, *c->keys_, *c->audit_,
                                                      std::string(kAuditKeyLabel));
  c->coverage_ = std::make_unique<Coverage>(*c->policy_, *c->store_, *c->store_, *c->store_,
                                            *c->audit_, clock);
  c->detector_ = std::make_unique<Detector>(*c->policy_);
  c->recordings_->SetDetector(c->detector_.get());
  c->siem_ = std::make_unique<SiemForwarder>(c->policy_->siem, config.data_dir + "/audit/audit.log",
                                             config.data_dir + "/siem", *c->audit_);
  const std::string& windows = c->policy_->detections.change_windows_file;
  c->detection_ = std::make_unique<DetectionRunner>(
      *c->detector_, config.data_dir + "/audit/audit.log",
      config.data_dir + "/siem/detections.cursor",
      windows.empty() ? "" : Resolve(config.data_dir, windows), *c->audit_);
  // Both live as long as the controller; StopAnalytics only ends their threads.
  c->audit_->AddFollower([siem = c->siem_.get()](const AuditLog::Written&) { siem->Wake(); });
  c->audit_->AddFollower(
      [runner = c->detection_.get()](const AuditLog::Written&) { runner->Wake(); });
  c->audit_->AddFollower([m = &c->metrics_](const AuditLog::Written& w) { m->Count(w); });
  c->vault_ = std::make_unique<Vault>(*c->policy_, *c->store_, *c->keys_, *c->audit_, clock);
  if (absl::Status st = c->vault_->Start(); !st.ok()) {
    // The rest of the controller serves; the vault stays sealed and says so.
    std::cerr << "warden-controller: the vault stays sealed: " << st.message() << "\n";
  }
  c->databases_ = std::make_unique<DatabaseCredentials>(*c->policy_, *c->store_, *c->vault_,
                                                        c->postgres_, *c->audit_, clock);
  c->postgres_roles_ = std::make_unique<PostgresRoleTarget>(*c->policy_, *c->vault_, c->postgres_);
  c->rotation_ = std::make_unique<CredentialRotation>(*c->policy_, *c->store_, *c->vault_,
                                                      *c->audit_, clock);
  c->rotation_->AddTarget("postgres", *c->postgres_roles_);
  c->rotation_->AddTarget("ssh", c->ssh_appliances_);
  c->rotation_->AddTarget("ldap", c->ldap_accounts_);
  c->ad_accounts_ = std::make_unique<AdAccountTarget>(*c->vault_);
  c->rotation_->AddTarget("ad", *c->ad_accounts_);
  c->linux_accounts_ = std::make_unique<LinuxAccountTarget>(*c->store_, c->host_tasks_);
  c->rotation_->AddTarget("linux", *c->linux_accounts_);
  c->broker_ = std::make_unique<SshBroker>(*c->policy_, *c->access_, *c->ca_, *c->vault_,
                                           *c->rotation_, *c->recordings_, *c->audit_, clock);
  return c;
}

absl::Status Controller::StartAnalytics() {
  std::error_code ec;
  std::filesystem::create_directories(config_.data_dir + "/siem", ec);
  if (ec) return absl::UnavailableError(StrCat(config_.data_dir, "/siem: ", ec.message()));
  RETURN_IF_ERROR(detection_->Start());
  return siem_->Start();
}

absl::StatusOr<size_t> Controller::grants_live(int64_t now) {
  ASSIGN_OR_RETURN(std::vector<GrantRow> live, store_->ListLiveGrants(now));
  return live.size();
}

void Controller::StopAnalytics() {
  if (detection_) detection_->Stop();
  if (siem_) siem_->Stop();
}

Controller::~Controller() { StopAnalytics(); }

}  // namespace warden

