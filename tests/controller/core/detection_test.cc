// The detection rules on synthetic audit events: each kind fires on its case and not on its
// negative; the policy's siem and detections sections name their mistakes.
#include "controller/core/detection.h"

#include <gtest/gtest.h>

#include "controller/core/policy.h"

namespace warden {
namespace {

using nlohmann::json;

constexpr const char* kPolicy = R"(
groups: {admins: [admin], operators: [alice, bob], approvers: [bob, carol]}
roles:
  t0: {tier: 0, login: "a-{{user}}", requesters: [operators], approvals: {count: 1, groups: [approvers]}}
  t1: {tier: 1, login: "b-{{user}}", requesters: [operators, approvers], approvals: {count: 1, groups: [operators, approvers]}}
detections:
  change_windows: windows.yaml
  rules:
    - {name: window, kind: outside_change_window, severity: critical, tiers: [0], checkouts: ["kv/t0/*", kv/root]}
    - {name: chain, kind: approval_chain, within: 1h}
    - {name: watch, kind: command_watch, commands: [visudo, useradd], paths: [authorized_keys]}
    - {name: break, kind: reconcile_break, severity: critical}
    - {name: gap, kind: recording_gap}
    - {name: hidden, kind: redaction_limit}
    - {name: tiers, kind: cross_tier, tiers: [0]}
    - {name: glass, kind: break_glass_login, severity: critical}
    - {name: bypass, kind: bypass_login, tiers: [0]}
)";

class DetectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = ParsePolicy(kPolicy);
    ASSERT_TRUE(p.ok()) << p.status();
    policy_ = std::move(*p);
    detector_ = std::make_unique<Detector>(policy_);
  }
  // The names of the rules that fire on `e` (given seq and ts).
  std::vector<std::string> Fire(json e, const char* ts = "2026-12-01T10:00:00Z") {
    e["seq"] = ++seq_;
    e["ts"] = ts;
    std::vector<std::string> out;
    for (const DetectedAlert& a : detector_->Observe(e)) out.push_back(a.rule->name);
    return out;
  }
  // `who` asks for `role`: the request's id.
  std::string Request(const std::string& who, const std::string& role, bool approved = false,
                      const char* ts = "2026-12-01T10:00:00Z") {
    const std::string id = "req-" + std::to_string(seq_ + 1);
    Fire({{"type", "intent"}, {"call", "AccessService.CreateRequest"}, {"actor", who},
          {"args", {{"role", role}}}}, ts);
    const uint64_t intent = seq_;
    Fire({{"type", "outcome"}, {"call", "AccessService.CreateRequest"}, {"actor", who},
          {"intent", intent}, {"code", "OK"},
          {"result", {{"id", id}, {"state", approved ? "approved" : "pending"}, {"grant", approved ? "g-1" : ""}}}}, ts);
    return id;
  }
  std::vector<std::string> Approve(const std::string& who, const std::string& id,
                                   const char* code = "OK", bool grants = true,
                                   const char* ts = "2026-12-01T10:00:00Z") {
    Fire({{"type", "intent"}, {"call", "AccessService.ApproveRequest"}, {"actor", who},
          {"args", {{"id", id}}}}, ts);
    const uint64_t intent = seq_;
    json result = std::string(code) == "OK"
                      ? json{{"id", id}, {"state", grants ? "approved" : "pending"}, {"grant", grants ? "g-2" : ""}}
                      : json();
    json outcome = {{"type", "outcome"}, {"call", "AccessService.ApproveRequest"}, {"actor", who},
                    {"intent", intent}, {"code", code}};
    if (!result.is_null()) outcome["result"] = result;
    return Fire(outcome, ts);
  }
  Policy policy_;
  std::unique_ptr<Detector> detector_;
  uint64_t seq_ = 0;
};

using Names = std::vector<std::string>;

TEST_F(DetectionTest, Tier0GrantOutsideEveryWindow) {
  detector_->SetChangeWindows({{"CHG-1", 1764583200 /* 2025-12-01T10:00Z */, 1764586800, {0}}});
  EXPECT_EQ(Approve("bob", Request("alice", "t0")), Names{"window"});
  // Inside a window of its tier: nothing.
  ASSERT_TRUE(ParseChangeWindows("windows: [{id: CHG-2, start: 2026-12-01T09:00:00Z, "
                                 "end: 2026-12-01T11:00:00Z, tiers: [0]}]").ok());
  detector_->SetChangeWindows(*ParseChangeWindows(
      "windows: [{id: CHG-2, start: 2026-12-01T09:00:00Z, end: 2026-12-01T11:00:00Z, tiers: [0]}]"));
  EXPECT_EQ(Approve("bob", Request("alice", "t0")), Names{});
  // A window of another tier does not cover it; nor does one that has ended.
  detector_->SetChangeWindows(*ParseChangeWindows(
      "windows: [{id: CHG-3, start: 2026-12-01T09:00:00Z, end: 2026-12-01T11:00:00Z, tiers: [1]},"
      " {id: CHG-4, start: 2026-12-01T08:00:00Z, end: 2026-12-01T09:59:59Z}]"));
  EXPECT_EQ(Approve("bob", Request("alice", "t0")), Names{"window"});
  // A tier-1 grant is not the rule's business; a pending approval grants nothing.
  EXPECT_EQ(Approve("bob", Request("alice", "t1")), Names{});
  EXPECT_EQ(Approve("bob", Request("alice", "t0"), "OK", false), Names{});
}

TEST_F(DetectionTest, CheckoutsOfWatchedPathsOutsideEveryWindow) {
  auto checkout = [&](const std::string& call, const std::string& path, json result) {
    json args = call == "VaultService.Get" ? json{{"path", path}} : json{{"token_hmac", "x"}};
    Fire({{"type", "intent"}, {"call", call}, {"actor", "alice"}, {"args", args}});
    const uint64_t intent = seq_;
    if (call == "VaultService.Unwrap") result["path"] = path;
    return Fire({{"type", "outcome"}, {"call", call}, {"actor", "alice"}, {"intent", intent},
                 {"code", "OK"}, {"result", result}});
  };
  const json out = {{"version", 1}, {"checked_out_until", 1764590000}};
  EXPECT_EQ(checkout("VaultService.Get", "kv/t0/db", out), Names{"window"});
  EXPECT_EQ(checkout("VaultService.Unwrap", "kv/root", out), Names{"window"});
  // Not a watched path; a plain read (no check-out); a wrapped read (checked out at unwrap).
  EXPECT_EQ(checkout("VaultService.Get", "kv/t1/db", out), Names{});
  EXPECT_EQ(checkout("VaultService.Get", "kv/rootx", out), Names{});
  EXPECT_EQ(checkout("VaultService.Get", "kv/t0/db", {{"version", 1}}), Names{});
  EXPECT_EQ(checkout("VaultService.Get", "kv/t0/db", {{"wrapped", true}, {"accessor", "a"}}), Names{});
  // A tier-0 window covers the rule's check-outs; a tier-1 one does not.
  detector_->SetChangeWindows(*ParseChangeWindows(
      "windows: [{id: CHG-5, start: 2026-12-01T09:00:00Z, end: 2026-12-01T11:00:00Z, tiers: [1]}]"));
  EXPECT_EQ(checkout("VaultService.Get", "kv/t0/db", out), Names{"window"});
  detector_->SetChangeWindows(*ParseChangeWindows(
      "windows: [{id: CHG-6, start: 2026-12-01T09:00:00Z, end: 2026-12-01T11:00:00Z, tiers: [0]}]"));
  EXPECT_EQ(checkout("VaultService.Get", "kv/t0/db", out), Names{});
}

TEST_F(DetectionTest, LoginsOutsideWardenFromTheHostsLoginRecords) {
  const json login = {{"event", "host.login"}, {"host", "h-1"}, {"hostname", "db1"},
                      {"user", "root"},        {"line", "pts/3"}, {"from", "10.0.0.9"}};
  json glass = login;
  glass["kind"] = "break_glass";
  glass["tier"] = 1;
  EXPECT_EQ(Fire(glass), Names{"glass"});  // every tier
  json bypass = login;
  bypass["kind"] = "bypass";
  bypass["user"] = "ops";
  bypass["tier"] = 0;
  EXPECT_EQ(Fire(bypass), Names{"bypass"});
  bypass["tier"] = 1;
  EXPECT_EQ(Fire(bypass), Names{});  // the rule watches tier 0
  bypass["kind"] = "something";
  bypass["tier"] = 0;
  EXPECT_EQ(Fire(bypass), Names{});
  const std::vector<DetectedAlert> a = detector_->Observe(
      json{{"event", "host.login"}, {"kind", "break_glass"}, {"tier", 0}, {"hostname", "db1"},
           {"user", "root"}, {"from", "10.0.0.9"}, {"seq", 99}});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].summary, "break-glass account root logged in on db1 (tier 0) from 10.0.0.9");
  EXPECT_EQ(a[0].evidence["events"], json::array({99}));
}

TEST_F(DetectionTest, ApprovalChains) {
  const std::string a1 = Request("alice", "t1");
  EXPECT_EQ(Approve("bob", a1, "OK", false), Names{});
  const std::string b1 = Request("bob", "t1");
  EXPECT_EQ(Approve("carol", b1, "OK", false), Names{});  // someone else: no chain
  const std::string b2 = Request("bob", "t1");
  EXPECT_EQ(Approve("alice", b2), Names{"chain"});  // bob approved alice's, alice bob's
  const std::string a2 = Request("alice", "t1");
  EXPECT_EQ(Approve("bob", a2), Names{});  // the same pair again within the hour: said once
  // Past `within`: not a chain (dave and erin: a pair of their own).
  const std::string d1 = Request("dave", "t1", false, "2026-12-01T10:00:00Z");
  EXPECT_EQ(Approve("erin", d1, "OK", false, "2026-12-01T10:00:00Z"), Names{});
  const std::string e1 = Request("erin", "t1", false, "2026-12-01T11:30:00Z");
  EXPECT_EQ(Approve("dave", e1, "OK", false, "2026-12-01T11:30:00Z"), Names{});
  // Within it: a chain.
  const std::string d2 = Request("dave", "t1", false, "2026-12-01T11:40:00Z");
  EXPECT_EQ(Approve("erin", d2, "OK", false, "2026-12-01T11:40:00Z"), Names{"chain"});
  // Trying to approve one's own request (refused by the controller) is alerted.
  const std::string a3 = Request("alice", "t1");
  EXPECT_EQ(Approve("alice", a3, "PERMISSION_DENIED"), Names{"chain"});
  EXPECT_EQ(Approve("carol", a3, "PERMISSION_DENIED"), Names{});  // refused for another reason
}

TEST_F(DetectionTest, EventKinds) {
  EXPECT_EQ(Fire({{"event", "vault.reconcile_break"}, {"path", "kv/a"}, {"alert", true}}),
            Names{"break"});
  EXPECT_EQ(Fire({{"event", "vault.reconciled"}, {"path", "kv/a"}}), Names{});
  EXPECT_EQ(Fire({{"event", "recording.sealed"}, {"session", "s-1"}, {"lost_bytes", 10}}),
            Names{"gap"});
  EXPECT_EQ(Fire({{"event", "recording.sealed"}, {"session", "s-1"}, {"lost_bytes", 0}}), Names{});
  EXPECT_EQ(Fire({{"event", "recording.alert"}, {"kind", "redaction_limit"}, {"session", "s-2"}}),
            Names{"hidden"});
  EXPECT_EQ(Fire({{"event", "broker.cross_tier"}, {"credential_tier", 0}, {"gateway_tier", 1}}),
            Names{"tiers"});
  // The rule watches tier-0 credentials only.
  EXPECT_EQ(Fire({{"event", "broker.cross_tier"}, {"credential_tier", 1}, {"gateway_tier", 0}}),
            Names{});
  // An alert is never the cause of another.
  EXPECT_EQ(Fire({{"event", "alert"}, {"kind", "reconcile_break"}, {"alert", true}}), Names{});
  // Whatever the bytes: nothing thrown.
  EXPECT_EQ(Fire({{"event", 7}, {"type", json::array()}}), Names{});
  EXPECT_TRUE(detector_->Observe(json::array()).empty());
}

TEST_F(DetectionTest, WatchedCommands) {
  int session = 0;
  auto fired = [&](std::string_view file, std::string_view command) {
    std::vector<std::string> out;
    for (const DetectedAlert& a : detector_->ObserveCommand(
             "s-" + std::to_string(++session), "h-1", "alice", "a-alice", 83'000'000'000, file, command))
      out.push_back(a.ToEvent()["evidence"]["offset"].get<std::string>());
    return out;
  };
  EXPECT_EQ(fired("/usr/sbin/visudo", "/usr/sbin/visudo -f /etc/sudoers.d/x"), Names{"00:01:23"});
  EXPECT_EQ(fired("/usr/sbin/useradd", "useradd -m eve"), Names{"00:01:23"});
  EXPECT_EQ(fired("/usr/bin/vi", "vi /root/.ssh/authorized_keys"), Names{"00:01:23"});
  EXPECT_EQ(fired("/usr/bin/ls", "ls -l"), Names{});
  EXPECT_EQ(fired("/usr/bin/visudoer", "/usr/bin/visudoer"), Names{});  // a name, not a prefix
  // What argv[0] claims does not hide the file the kernel ran (exec -a ls visudo)...
  EXPECT_EQ(fired("/usr/sbin/visudo", "ls -c"), Names{"00:01:23"});
  // ... and a redundant path is still the path.
  EXPECT_EQ(fired("/usr/bin/cat", "cat /root/.ssh//./authorized_keys"), Names{"00:01:23"});
}

TEST_F(DetectionTest, ALoopOfWatchedCommandsIsOneFindingNotAFlood) {
  int alerts = 0;
  std::string last;
  for (int i = 0; i < 1000; i++) {
    for (const DetectedAlert& a :
         detector_->ObserveCommand("s-loop", "h-1", "alice", "a-alice", i, "/usr/sbin/visudo", "visudo -c")) {
      alerts++;
      last = a.summary;
    }
  }
  EXPECT_EQ(alerts, 5);
  EXPECT_NE(last.find("further matches of this rule in this session are not alerted"), std::string::npos);
  // Another session is its own.
  EXPECT_EQ(detector_->ObserveCommand("s-other", "h-1", "bob", "a-bob", 0, "/usr/sbin/visudo", "visudo").size(), 1u);
}

TEST_F(DetectionTest, AFieldOfAnotherTypeIsNoEventAndThrowsNothing) {
  EXPECT_EQ(Fire({{"type", "outcome"}, {"intent", "x"}}), Names{});
  EXPECT_EQ(Fire({{"event", "recording.sealed"}, {"lost_bytes", "lots"}}), Names{});
  EXPECT_EQ(Fire({{"event", "broker.cross_tier"}, {"credential_tier", "zero"}}), Names{});
}

TEST(AnalyticsPolicy, MistakesAreNamed) {
  auto err = [](const std::string& extra) {
    auto p = ParsePolicy("groups: {admins: [admin]}\nroles:\n  r: {tier: 0, login: \"x-{{user}}\", approvals: {count: 1, groups: [admins]}}\n" + extra);
    return p.ok() ? std::string("ok") : std::string(p.status().message());
  };
  EXPECT_EQ(err("siem: {sinks: {soc: {type: syslog, address: \"10.0.0.1:6514\", tls: true}}}"), "ok");
  EXPECT_EQ(err("siem: {sinks: {soc: {type: kafka}}}"),
            "siem.sinks.soc: type \"kafka\" is not a sink type; supported: syslog, webhook, file");
  EXPECT_EQ(err("siem: {sinks: {soc: {type: syslog, address: siem}}}"),
            "siem.sinks.soc: address must be HOST:PORT (e.g. siem.example:6514), got \"siem\"");
  EXPECT_EQ(err("siem: {sinks: {soc: {type: syslog, address: \"a:1\", ca_file: /x}}}"),
            "siem.sinks.soc: ca_file and server_name are for tls: true");
  EXPECT_EQ(err("siem: {sinks: {soc: {type: webhook, url: ftp://x}}}"),
            "siem.sinks.soc: url must be an http:// or https:// URL");
  EXPECT_EQ(err("siem: {sinks: {soc: {type: file, path: rel.jsonl}}}"),
            "siem.sinks.soc: path must be an absolute file name");
  EXPECT_EQ(err("siem: {sinks: {\"../x\": {type: file, path: /x}}}"),
            "siem.sinks.../x: a sink's name is lowercase letters, digits, - and _ (it names a file)");
  EXPECT_EQ(err("siem: {sinks: {soc: {type: file, path: /x, url: http://y}}}"),
            "siem.sinks.soc: unknown key \"url\"; supported: type, path");
  EXPECT_EQ(err("detections: {rules: [{name: a, kind: magic}]}"),
            "detections rule \"a\": kind \"magic\" is unknown; supported: outside_change_window, "
            "reconcile_break, recording_gap, approval_chain, command_watch, redaction_limit, "
            "cross_tier, break_glass_login, bypass_login");
  EXPECT_EQ(err("detections: {change_windows: w.yaml, rules: [{name: a, kind: bypass_login, checkouts: [kv/x]}]}"),
            "detections rule \"a\": checkouts is for outside_change_window");
  EXPECT_EQ(err("detections: {change_windows: w.yaml, rules: [{name: a, kind: outside_change_window, "
                "checkouts: [\"kv/*/x\"]}]}"),
            "detections rule \"a\": checkouts: \"kv/*/x\" is not a vault path or a prefix ending in *");
  EXPECT_EQ(err("detections: {rules: [{name: a, kind: recording_gap, tiers: [0]}]}"),
            "detections rule \"a\": tiers is for outside_change_window, cross_tier, break_glass_login "
            "and bypass_login");
  EXPECT_EQ(err("detections: {rules: [{name: a, kind: outside_change_window}]}"),
            "detections rule \"a\": outside_change_window needs detections.change_windows (the "
            "file of approved change windows)");
  EXPECT_EQ(err("detections: {rules: [{name: a, kind: command_watch}]}"),
            "detections rule \"a\": a command_watch rule needs commands or paths to watch for");
  EXPECT_EQ(err("detections: {rules: [{name: a, kind: reconcile_break, severity: high}]}"),
            "detections rule \"a\": severity must be critical or warning, not \"high\"");
  EXPECT_EQ(err("detections: {rules: [{name: a, kind: cross_tier, tiers: [7]}]}"),
            "policy: detections rule \"a\".tiers: tier 7 does not exist (0 to 2)");
  EXPECT_EQ(err("detections: {rules: [{name: a, kind: recording_gap}, {name: a, kind: recording_gap}]}"),
            "detections rule \"a\" is defined twice");
  EXPECT_EQ(err("detections: {rules: [{name: a, kind: recording_gap, commands: [x]}]}"),
            "detections rule \"a\": commands and paths are for command_watch");
}

TEST(ChangeWindows, Parse) {
  auto w = ParseChangeWindows("windows:\n  - {id: CHG-1, start: 2026-12-01T08:00:00Z, end: 2026-12-01T12:00:00Z, tiers: [0]}\n");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->size(), 1u);
  EXPECT_EQ((*w)[0].start, 1796112000);
  EXPECT_EQ((*w)[0].end - (*w)[0].start, 4 * 3600);
  EXPECT_EQ(ParseChangeWindows("").value().size(), 0u);
  EXPECT_EQ(ParseChangeWindows("windows: [{id: x, start: tomorrow, end: 2026-12-01T12:00:00Z}]")
                .status()
                .message(),
            "change windows: windows[0].start: \"tomorrow\" is not a UTC time like 2026-12-01T08:00:00Z");
  EXPECT_EQ(ParseChangeWindows("windows: [{id: x, start: 2026-12-01T12:00:00Z, end: 2026-12-01T08:00:00Z}]")
                .status()
                .message(),
            "change windows: windows[0] (x): it ends before it starts");
  EXPECT_FALSE(ParseChangeWindows("windows: [").ok());
  EXPECT_FALSE(ParseChangeWindows("windows: [{start: 2026-12-01T12:00:00Z}]").ok());
}

}  // namespace
}  // namespace warden
