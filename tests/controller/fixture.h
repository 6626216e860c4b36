// A controller core over a temporary SQLite store, software keys and a fake clock.
#pragma once

#include <gtest/gtest.h>

#include "controller/core/access.h"
#include "controller/core/audit_log.h"
#include "controller/core/certificate_authority.h"
#include "controller/keys/x509_issuer.h"
#include "controller/keys/software_keystore.h"
#include "controller/store/sqlite/sqlite_store.h"
#include "tests/test_util.h"

namespace warden::testing {

inline constexpr const char* kTestPolicy = R"(
groups:
  admins: [root]
  operators: [alice, bob]
  approvers: [bob, carol, dave]
  dbas: [erin]
roles:
  tier0-linux-admin:
    tier: 0
    login: "adm-{{user}}"
    max_ttl: 4h
    cert_ttl: 30m
    requesters: [operators]
    approvals: {count: 2, groups: [approvers]}
    extensions:
      allowed: [permit-pty, permit-port-forwarding]
      default: [permit-pty]
    critical_options:
      source-address: "10.0.0.0/8"
    hosts: {env: prod}
    account:
      groups: [wheel-ops]
      sudo: "ALL=(ALL) NOPASSWD: ALL"
  tier1-db:
    tier: 1
    login: "db-{{user}}"
    max_ttl: 1h
    approvals: {count: 1, groups: [dbas]}
    critical_options:
      force-command: "/usr/bin/psql"
)";

class CoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(dir_ / "warden.db");
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
    auto policy = ParsePolicy(kTestPolicy);
    ASSERT_TRUE(policy.ok()) << policy.status().message();
    policy_ = std::make_shared<const Policy>(std::move(*policy));
    access_ = std::make_unique<AccessCore>(policy_, *store_, clock_);
    ca_ = std::make_unique<CertificateAuthority>(*access_, *store_, keys_, clock_);
    ASSERT_TRUE(ca_->CreateInitialKeys(KeyAlgorithm::kEd25519).ok());
  }

  Identity Who(const std::string& user) {
    Identity id;
    id.user = user;
    id.groups = policy_->GroupsOf(user);
    return id;
  }

  // A new key "cluster" and a self-signed CA certificate of it, valid for a year: the cluster CA
  // that issues the API's client certificates.
  X509Ptr ClusterCa() {
    EXPECT_TRUE(keys_.Generate("cluster", KeyAlgorithm::kEd25519).ok());
    X509Profile p;
    p.common_name = "ca";
    p.is_ca = true;
    p.not_before_unix = clock_.Now() - 60;
    p.not_after_unix = clock_.Now() + 365 * 86400;
    auto ca = IssueX509(keys_, "cluster", nullptr, KeyStorePublicEvp(keys_, "cluster")->get(), p);
    EXPECT_TRUE(ca.ok()) << ca.status().message();
    return ca.ok() ? std::move(*ca) : nullptr;
  }

  // An audit log at dir_/audit.log signed by a new key "audit-1" (HMAC key "audit-hmac-1"), opened.
  std::unique_ptr<AuditLog> OpenAuditLog() {
    EXPECT_TRUE(keys_.Generate("audit-1", KeyAlgorithm::kEd25519).ok());
    EXPECT_TRUE(keys_.GenerateMacKey("audit-hmac-1").ok());
    AuditLog::Options o;
    o.path = dir_ / "audit.log";
    o.key_label = "audit-1";
    o.hmac_key_label = "audit-hmac-1";
    auto log = std::make_unique<AuditLog>(std::move(o), keys_, *store_, clock_);
    EXPECT_TRUE(log->Open().ok());
    return log;
  }

  // alice files a tier-0 request; bob and carol approve it.
  GrantRow ApprovedGrant(int64_t ttl = 1800) {
    auto r = access_->Create(Who("alice"), "tier0-linux-admin", "CHG-1", ttl);
    EXPECT_TRUE(r.ok()) << r.status().message();
    EXPECT_TRUE(access_->Approve(Who("bob"), r->row.id).ok());
    auto done = access_->Approve(Who("carol"), r->row.id);
    EXPECT_TRUE(done.ok());
    EXPECT_EQ(done->row.state, "approved");
    return access_->GetGrant(done->row.grant_id)->row;
  }

  TempDir dir_;
  FakeClock clock_{1800000000};
  SoftwareKeyStore keys_;
  std::unique_ptr<SqliteStore> store_;
  std::shared_ptr<const Policy> policy_;
  std::unique_ptr<AccessCore> access_;
  std::unique_ptr<CertificateAuthority> ca_;
};

}  // namespace warden::testing
