// Coverage on a real store: hosts' reports are kept and audited once, the two KPIs and the
// unmanaged list come out per tier and host group, and a report beyond the caps is refused.
#include "controller/core/coverage.h"

#include <fstream>

#include "common/strings.h"
#include "tests/controller/fixture.h"

namespace warden::testing {
namespace {

using nlohmann::json;

class CoverageTest : public CoreFixture {
 protected:
  void SetUp() override {
    CoreFixture::SetUp();
    audit_ = OpenAuditLog();
    Policy p = *policy_;
    RotationTargetPolicy svc;
    svc.path = "kv/db1/svc";
    svc.kind = "linux";
    svc.host = "db1";
    svc.user = "svc";
    p.rotation.targets[svc.path] = svc;
    policy_ = std::make_shared<const Policy>(std::move(p));
    coverage_ = std::make_unique<Coverage>(*policy_, *store_, *store_, *store_, *audit_, clock_);
    AddHost("h-1", "db1", 0, R"({"group":"payments"})");
    AddHost("h-2", "db2", 0, R"({"group":"payments"})");
    AddHost("h-3", "web1", 1, R"({"env":"prod"})");
    AddHost("gw-1", "gw", 0, R"({"group":"payments"})", "gateway");
  }

  void AddHost(const std::string& id, const std::string& name, int tier, const std::string& labels,
               const std::string& kind = "host") {
    HostRow h;
    h.id = id;
    h.hostname = name;
    h.tier = tier;
    h.labels = labels;
    h.kind = kind;
    ASSERT_TRUE(store_->InsertHost(h).ok());
  }

  void AddRecording(const std::string& session, const std::string& host, uint64_t lost = 0) {
    RecordingRow r;
    r.session_id = session;
    r.host_id = host;
    r.user = "adm-alice";
    r.started_ns = (clock_.Now() - 3600) * int64_t{1000000000};
    r.lost_bytes = lost;
    ASSERT_TRUE(store_->InsertRecording(r).ok());
  }

  static InventoryAccount Account(const std::string& name, bool password, int keys,
                                  const std::string& via = "uid 0") {
    InventoryAccount a;
    a.name = name;
    a.via = {via};
    a.password = password;
    for (int i = 0; i < keys; i++)
      a.authorized_keys.push_back({"/home/" + name + "/.ssh/authorized_keys", "ssh-ed25519",
                                   StrCat("SHA256:key", i), "laptop"});
    return a;
  }

  static HostLogin Login(const std::string& user, const std::string& kind, int64_t at_us,
                         const std::string& line = "pts/0") {
    return {user, line, "10.0.0.9", at_us, 4242, kind, StrCat(at_us, ":4242:", line)};
  }

  // The audit events named `name`, in order.
  std::vector<json> Events(const std::string& name) {
    std::vector<json> out;
    std::ifstream in(dir_ / "audit.log");
    for (std::string line; std::getline(in, line);) {
      json e = json::parse(line, nullptr, false);
      if (e.is_object() && e.value("event", "") == name) out.push_back(e);
    }
    return out;
  }

  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<Coverage> coverage_;
};

TEST_F(CoverageTest, KpisPerTierAndGroupWithTheUnmanagedAccounts) {
  Inventory db1;
  db1.break_glass = {"root"};
  db1.privileged = {Account("root", true, 0), Account("ops", false, 2, "group sudo"),
                    Account("svc", true, 0, "sudoers /etc/sudoers.d/svc:1"),
                    Account("backup", false, 0, "group adm")};
  ASSERT_TRUE(coverage_->Report("h-1", db1, {}).ok());
  Inventory web1;
  web1.privileged = {Account("root", false, 0)};
  web1.problems = {"/etc/ssh/sshd_config:9: AuthorizedKeysCommand /usr/bin/x: not inventoried"};
  ASSERT_TRUE(coverage_->Report("h-3", web1, {}).ok());
  const int64_t now_us = clock_.Now() * int64_t{1000000};
  ASSERT_TRUE(coverage_->Report("h-1", std::nullopt,
                                {Login("root", "break_glass", now_us - 5000000),
                                 Login("ops", "bypass", now_us - 4000000)}).ok());
  AddRecording("s-1", "h-1");
  AddRecording("s-2", "h-1", 100);
  AddRecording("s-3", "gw-1");
  AddRecording("s-4", "h-3");

  absl::StatusOr<CoverageReport> r = coverage_->Compute(Who("root"), {});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->groups.size(), 2u);
  const CoverageGroup& payments = r->groups[0];
  EXPECT_EQ(payments.tier, 0);
  EXPECT_EQ(payments.group, "payments");
  EXPECT_EQ(payments.hosts, 2);
  EXPECT_EQ(payments.gateways, 1);
  EXPECT_EQ(payments.hosts_reporting, 1);
  // root (a password) and ops (keys) are standing; svc's password is Warden's, backup has none.
  EXPECT_EQ(payments.privileged, 4);
  EXPECT_EQ(payments.zero_standing, 2);
  EXPECT_EQ(payments.sessions_recorded, 3u);  // db1's two and the gateway's
  EXPECT_EQ(payments.sessions_with_loss, 1u);
  EXPECT_EQ(payments.bypass_logins, 1u);
  EXPECT_EQ(payments.break_glass_logins, 1u);
  const CoverageGroup& web = r->groups[1];
  EXPECT_EQ(web.tier, 1);
  EXPECT_EQ(web.group, "");
  EXPECT_EQ(web.privileged, 1);
  EXPECT_EQ(web.zero_standing, 1);
  EXPECT_EQ(web.sessions_recorded, 1u);

  ASSERT_EQ(r->unmanaged.size(), 2u);
  EXPECT_EQ(r->unmanaged[0].account.name, "ops");
  EXPECT_EQ(r->unmanaged[0].account.authorized_keys.size(), 2u);
  EXPECT_FALSE(r->unmanaged[0].break_glass);
  EXPECT_EQ(r->unmanaged[1].account.name, "root");
  EXPECT_TRUE(r->unmanaged[1].break_glass);
  ASSERT_EQ(r->not_reporting.size(), 1u);
  EXPECT_EQ(r->not_reporting[0].hostname, "db2");
  ASSERT_EQ(r->problems.size(), 1u);
  EXPECT_EQ(r->problems[0].hostname, "web1");

  // --tier 1: that tier only. A window that starts after the sessions counts none of them.
  CoverageQuery q;
  q.tier = 1;
  r = coverage_->Compute(Who("root"), q);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->groups.size(), 1u);
  EXPECT_EQ(r->groups[0].tier, 1);
  q.tier = -1;
  q.since = clock_.Now() - 1;
  r = coverage_->Compute(Who("root"), q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->groups[0].sessions_recorded, 0u);
  EXPECT_EQ(r->groups[0].bypass_logins, 0u);
}

TEST_F(CoverageTest, ReportsAreAuditedOnceAndChangesNamed) {
  Inventory inv;
  inv.privileged = {Account("root", false, 0)};
  ASSERT_TRUE(coverage_->Report("h-1", inv, {}).ok());
  ASSERT_TRUE(coverage_->Report("h-1", inv, {}).ok());  // unchanged: no event
  inv.privileged.push_back(Account("toor", true, 0));
  ASSERT_TRUE(coverage_->Report("h-1", inv, {}).ok());
  std::vector<json> events = Events("host.inventory");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0]["first"].get<bool>());
  EXPECT_EQ(events[1]["privileged_added"], json::array({"toor"}));
  EXPECT_EQ(events[1]["standing_added"], json::array({"toor"}));
  EXPECT_EQ(events[1]["hostname"], "db1");

  // A login sent twice (the host did not hear the first answer) is stored and audited once.
  const HostLogin l = Login("toor", "bypass", 1799999990000000);
  ASSERT_TRUE(coverage_->Report("h-1", std::nullopt, {l}).ok());
  ASSERT_TRUE(coverage_->Report("h-1", std::nullopt, {l}).ok());
  events = Events("host.login");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["user"], "toor");
  EXPECT_EQ(events[0]["kind"], "bypass");
  EXPECT_EQ(events[0]["tier"], 0);
  ASSERT_EQ(store_->CountHostLogins(0)->size(), 1u);
  EXPECT_EQ((*store_->CountHostLogins(0))[0].logins, 1u);
}

TEST_F(CoverageTest, BadReportsAreRefusedAndChangeNothing) {
  Inventory big;
  for (size_t i = 0; i <= kMaxInventoryAccounts; i++) big.privileged.push_back(Account(StrCat("u", i), true, 0));
  absl::Status st = coverage_->Report("h-1", big, {});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "inventory: 4097 privileged accounts; at most 4096");
  Inventory keys;
  keys.privileged = {Account("ops", false, kMaxInventoryKeys + 1)};
  EXPECT_EQ(coverage_->Report("h-1", keys, {}).message(), "inventory: 257 keys of ops; at most 256");
  EXPECT_EQ(coverage_->Report("h-1", std::nullopt, {Login("root", "sneaky", 1)}).message(),
            "login: kind \"sneaky\" is not break_glass or bypass");
  std::vector<HostLogin> flood(kMaxLoginsPerReport + 1, Login("root", "break_glass", 1));
  EXPECT_EQ(coverage_->Report("h-1", std::nullopt, flood).message(),
            "inventory report: 513 logins; at most 512");
  EXPECT_EQ(coverage_->Report("h-9", Inventory{}, {}).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(store_->GetInventory("h-1")->has_value());
  EXPECT_TRUE(store_->CountHostLogins(0)->empty());
  EXPECT_TRUE(Events("host.inventory").empty());
}

// A host that stops reporting (wardend sends its inventory at least hourly) no longer counts as
// covered by its last inventory; an unchanged report keeps it current without an audit event.
TEST_F(CoverageTest, AHostThatStopsReportingIsNotCovered) {
  Inventory inv;
  inv.privileged = {Account("root", false, 0)};
  ASSERT_TRUE(coverage_->Report("h-1", inv, {}).ok());
  const int64_t first = clock_.Now();
  clock_.Advance(2 * 3600);
  ASSERT_TRUE(coverage_->Report("h-1", inv, {}).ok());
  clock_.Advance(2 * 3600);
  absl::StatusOr<CoverageReport> r = coverage_->Compute(Who("root"), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->groups[0].hosts_reporting, 1);
  EXPECT_EQ(Events("host.inventory").size(), 1u);
  clock_.Advance(2 * 3600);
  r = coverage_->Compute(Who("root"), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->groups[0].hosts_reporting, 0);
  EXPECT_EQ(r->groups[0].privileged, 0);
  ASSERT_EQ(r->not_reporting.size(), 3u);  // db1 stopped, db2 and web1 never reported
  EXPECT_EQ(r->not_reporting[0].hostname, "db1");
  EXPECT_EQ(r->not_reporting[0].last_report, first + 2 * 3600);
  EXPECT_EQ(r->not_reporting[1].last_report, 0);
  // A window starting in the future is cut to now, not overflowed.
  CoverageQuery q;
  q.since = INT64_MAX / 2;
  EXPECT_TRUE(coverage_->Compute(Who("root"), q).ok());
}

TEST_F(CoverageTest, OnlyAdminsAndRecordingViewersSeeIt) {
  absl::StatusOr<CoverageReport> r = coverage_->Compute(Who("alice"), {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  Identity host;
  host.user = "host/h-1";
  host.host_id = "h-1";
  EXPECT_EQ(coverage_->Compute(host, {}).status().code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace warden::testing
