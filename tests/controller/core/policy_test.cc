#include "controller/core/policy.h"

#include <gtest/gtest.h>

#include "tests/controller/fixture.h"

namespace warden {
namespace {

TEST(Policy, ParsesTheTestPolicy) {
  auto p = ParsePolicy(testing::kTestPolicy);
  ASSERT_TRUE(p.ok()) << p.status().message();
  const Role& r = p->roles.at("tier0-linux-admin");
  EXPECT_EQ(r.tier, 0);
  EXPECT_EQ(r.max_ttl, 4 * 3600);
  EXPECT_EQ(r.cert_ttl, 1800);
  EXPECT_EQ(r.approvals_required, 2);
  EXPECT_EQ(r.source_addresses, std::vector<std::string>{"10.0.0.0/8"});
  EXPECT_EQ(p->GroupsOf("bob"), (std::vector<std::string>{"approvers", "operators"}));
  EXPECT_TRUE(p->IsAdmin("root"));
}

TEST(Policy, MistakesAreReportedWithTheRoleName) {
  auto bad_group = ParsePolicy(R"(
groups: {a: [x]}
admins: [a]
roles:
  r1: {tier: 0, login: "adm-{{user}}", approvals: {count: 2, groups: [nobody]}}
)");
  ASSERT_FALSE(bad_group.ok());
  EXPECT_NE(std::string(bad_group.status().message()).find("role r1"), std::string::npos);
  EXPECT_NE(std::string(bad_group.status().message()).find("nobody"), std::string::npos);

  auto zero = ParsePolicy(R"(
groups: {a: [x], admins: [x]}
roles:
  r1: {tier: 0, login: "adm-{{user}}", approvals: {count: 0, groups: [a]}}
)");
  EXPECT_FALSE(zero.ok());
  auto tier = ParsePolicy(R"(
groups: {a: [x], admins: [x]}
roles:
  r1: {tier: 5, login: "adm-{{user}}", approvals: {count: 1, groups: [a]}}
)");
  EXPECT_FALSE(tier.ok());
  auto opt = ParsePolicy(R"(
groups: {a: [x], admins: [x]}
roles:
  r1: {tier: 0, login: "adm-{{user}}", approvals: {count: 1, groups: [a]},
       critical_options: {no-pty: ""}}
)");
  EXPECT_FALSE(opt.ok());
  auto login = ParsePolicy(R"(
groups: {a: [x], admins: [x]}
roles:
  r1: {tier: 0, login: "Root {{host}}", approvals: {count: 1, groups: [a]}}
)");
  EXPECT_FALSE(login.ok());
  EXPECT_FALSE(ParsePolicy("roles: [unclosed").ok());
}

// A policy whose one role has `recording: <yaml>` is refused with a message holding `want`.
void ExpectRecordingRefused(const std::string& yaml, const std::string& want) {
  auto bad = ParsePolicy(R"(
groups: {a: [x], admins: [x]}
roles:
  r1: {tier: 0, login: "adm-{{user}}", approvals: {count: 1, groups: [a]}, recording: )" +
                         yaml + "}\n");
  ASSERT_FALSE(bad.ok()) << yaml;
  EXPECT_NE(bad.status().message().find(want), std::string::npos) << bad.status().message();
}

TEST(Policy, RecordingSettings) {
  auto p = ParsePolicy(R"(
groups: {a: [x], admins: [x], auditors: [y]}
recording_viewers: [auditors]
roles:
  r1: {tier: 0, login: "adm-{{user}}", approvals: {count: 1, groups: [a]},
       recording: {input: all, mode: strict}}
  r2: {tier: 0, login: "ops-{{user}}", approvals: {count: 1, groups: [a]}}
  r3: {tier: 0, login: "rw-{{user}}", approvals: {count: 1, groups: [a]},
       recording: {input: full, max_redacted_lines: 0}}
)");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->recording_viewer_groups, std::vector<std::string>{"auditors"});
  EXPECT_EQ(p->roles.at("r1").recording_input, "full") << "all: the older spelling of full";
  EXPECT_EQ(p->roles.at("r3").recording_input, "full");
  EXPECT_EQ(p->roles.at("r3").max_redacted_lines, 0u);
  EXPECT_EQ(p->roles.at("r2").max_redacted_lines, 3u) << "the default";
  EXPECT_EQ(p->roles.at("r1").recording_mode, "strict");
  EXPECT_EQ(p->roles.at("r2").recording_input, "redact");
  EXPECT_EQ(p->roles.at("r2").recording_mode, "best_effort");
  for (const auto& [yaml, want] : std::vector<std::pair<std::string, std::string>>{
           {"{mode: sometimes}", "recording.mode must be strict or best_effort"},
           {"{input: keys}", "recording.input must be redact, full or off"},
           {"{max_redacted_lines: -1}", "recording.max_redacted_lines must be a number from 0"},
           {"{max_redacted_lines: many}", "recording.max_redacted_lines must be a number from 0"},
           {"{moderators: 2}", "unknown recording key \"moderators\""}}) {
    ExpectRecordingRefused(yaml, want);
  }
  auto viewers = ParsePolicy(R"(
groups: {a: [x], admins: [x]}
recording_viewers: [nobody-here]
roles: {}
)");
  ASSERT_FALSE(viewers.ok());
  EXPECT_NE(viewers.status().message().find("recording_viewers names unknown group \"nobody-here\""),
            std::string::npos);
}

TEST(Policy, OnRedactionLimitDefaultsToEndWhenStrictElseAlert) {
  auto p = ParsePolicy(R"(
groups: {a: [x], admins: [x], leads: [y]}
roles:
  strict: {tier: 0, login: "s-{{user}}", approvals: {count: 1, groups: [a]}, recording: {mode: strict}}
  plain: {tier: 0, login: "p-{{user}}", approvals: {count: 1, groups: [a]}}
  held: {tier: 0, login: "h-{{user}}", approvals: {count: 1, groups: [a]},
         recording: {mode: strict, on_redaction_limit: hold, hold_wait: 2m}}
  held-default-wait: {tier: 0, login: "d-{{user}}", approvals: {count: 1, groups: [a]},
                      recording: {on_redaction_limit: hold}}
  lenient: {tier: 0, login: "l-{{user}}", approvals: {count: 1, groups: [a]},
            recording: {mode: strict, on_redaction_limit: alert}}
  ended: {tier: 0, login: "e-{{user}}", approvals: {count: 1, groups: [a]},
          recording: {on_redaction_limit: end}}
  four-eyes: {tier: 0, login: "f-{{user}}", approvals: {count: 1, groups: [a]},
              recording: {on_redaction_limit: hold},
              require_moderator: {count: 1, groups: [leads], wait: 5m}}
)");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->roles.at("strict").on_redaction_limit, "end") << "as before: strict ends";
  EXPECT_EQ(p->roles.at("plain").on_redaction_limit, "alert") << "as before: flagged only";
  EXPECT_EQ(p->roles.at("held").on_redaction_limit, "hold");
  EXPECT_EQ(p->roles.at("held").moderator_wait, 120);
  EXPECT_EQ(p->roles.at("held-default-wait").moderator_wait, 600);
  EXPECT_EQ(p->roles.at("lenient").on_redaction_limit, "alert");
  EXPECT_EQ(p->roles.at("ended").on_redaction_limit, "end");
  EXPECT_EQ(p->roles.at("four-eyes").moderator_wait, 300) << "require_moderator.wait";
}

TEST(Policy, OnRedactionLimitRefusesUnknownWordsNamingTheFieldAndTheChoices) {
  for (const auto& [yaml, want] : std::vector<std::pair<std::string, std::string>>{
           {"{on_redaction_limit: pause}",
            "role r1: recording.on_redaction_limit must be alert, hold or end, not \"pause\""},
           {"{on_redaction_limit: Hold}",
            "recording.on_redaction_limit must be alert, hold or end, not \"Hold\""},
           {"{on_redaction_limit: [hold]}",
            "recording.on_redaction_limit must be alert, hold or end"},
           {"{on_redaction_limit: end, hold_wait: 5m}",
            "recording.hold_wait applies only to recording.on_redaction_limit: hold"},
           {"{on_redaction_limit: hold, hold_wait: soon}", "recording.hold_wait: bad duration"},
           {"{on_redaction_limit: hold, hold_wait: 0s}", "recording.hold_wait must be positive"},
           {"{on_redaction: hold}",
            "unknown recording key \"on_redaction\"; supported: input, mode, max_redacted_lines, "
            "on_redaction_limit, hold_wait"}}) {
    ExpectRecordingRefused(yaml, want);
  }
  auto both = ParsePolicy(R"(
groups: {a: [x], admins: [x], leads: [y]}
roles:
  r1: {tier: 0, login: "adm-{{user}}", approvals: {count: 1, groups: [a]},
       recording: {on_redaction_limit: hold, hold_wait: 1m},
       require_moderator: {count: 1, groups: [leads]}}
)");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("recording.hold_wait is for roles without "
                                         "require_moderator"),
            std::string::npos)
      << both.status().message();
}

TEST(Policy, AHeldSessionIsModeratedByTheModeratorGroupsElseTheApprovers) {
  auto p = ParsePolicy(R"(
groups: {a: [x], admins: [x], leads: [y]}
roles:
  r1: {tier: 0, login: "adm-{{user}}", approvals: {count: 1, groups: [a]},
       recording: {on_redaction_limit: hold}}
  r2: {tier: 0, login: "ops-{{user}}", approvals: {count: 1, groups: [a]},
       recording: {on_redaction_limit: hold}, require_moderator: {count: 1, groups: [leads]}}
)");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->roles.at("r1").HoldModeratorGroups(), std::vector<std::string>{"a"});
  EXPECT_EQ(p->roles.at("r2").HoldModeratorGroups(), std::vector<std::string>{"leads"});
}

TEST(Policy, RequireModeratorSettings) {
  auto p = ParsePolicy(R"(
groups: {a: [x], admins: [x], leads: [y, z]}
roles:
  r1: {tier: 0, login: "adm-{{user}}", approvals: {count: 1, groups: [a]},
       require_moderator: {count: 2, groups: [leads], on_leave: pause, wait: 5m}}
  r2: {tier: 0, login: "ops-{{user}}", approvals: {count: 1, groups: [a]},
       require_moderator: {count: 1, groups: [leads]}}
  r3: {tier: 0, login: "dev-{{user}}", approvals: {count: 1, groups: [a]}}
)");
  ASSERT_TRUE(p.ok()) << p.status().message();
  const Role& r1 = p->roles.at("r1");
  EXPECT_EQ(r1.moderators_required, 2);
  EXPECT_EQ(r1.moderator_groups, std::vector<std::string>{"leads"});
  EXPECT_EQ(r1.moderator_on_leave, "pause");
  EXPECT_EQ(r1.moderator_wait, 300);
  EXPECT_EQ(p->roles.at("r2").moderator_on_leave, "terminate");
  EXPECT_EQ(p->roles.at("r2").moderator_wait, 600);
  EXPECT_EQ(p->roles.at("r3").moderators_required, 0);
  for (const auto& [yaml, want] : std::vector<std::pair<std::string, std::string>>{
           {"{count: 0, groups: [leads]}", "require_moderator.count must be 1..16"},
           {"{count: 1}", "require_moderator.groups must name at least one group"},
           {"{count: 1, groups: [ghosts]}", "moderator group \"ghosts\" is not defined"},
           {"{count: 1, groups: [leads], on_leave: shrug}",
            "require_moderator.on_leave must be terminate or pause"},
           {"{count: 1, groups: [leads], quorum: 3}", "unknown require_moderator key \"quorum\""}}) {
    auto bad = ParsePolicy(R"(
groups: {a: [x], admins: [x], leads: [y]}
roles:
  r1: {tier: 0, login: "adm-{{user}}", approvals: {count: 1, groups: [a]}, require_moderator: )" +
                           yaml + "}\n");
    ASSERT_FALSE(bad.ok()) << yaml;
    EXPECT_NE(bad.status().message().find(want), std::string::npos) << bad.status().message();
  }
}

// A broker role names the gateway target and the rotation target (kind ssh) whose address,
// login and pinned key the second leg uses; it puts no account on hosts.
TEST(Policy, BrokerRoles) {
  const std::string head = R"(
groups: {a: [x], admins: [x]}
rotation:
  targets:
    "kv/app/core": {kind: ssh, host: 10.0.0.1, user: admin, change_command: /bin/set,
                    host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"}
    "db/x/admin": {kind: postgres, connection: x}
databases:
  connections:
    x: {host: 127.0.0.1, database: postgres, admin_user: a, admin_password: db/x/admin}
roles:
  r1:
    tier: 0
    login: "bank-{{user}}"
    approvals: {count: 1, groups: [a]}
)";
  auto ok = ParsePolicy(head + "    broker: {target: core, credential: kv/app/core, allow: [shell, sftp]}\n");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  const Role& r = ok->roles.at("r1");
  EXPECT_EQ(r.broker_target, "core");
  EXPECT_EQ(r.broker_credential, "kv/app/core");
  EXPECT_EQ(r.broker_allow, (std::set<std::string>{"shell", "sftp"}));
  auto defaults = ParsePolicy(head + "    broker: {target: core, credential: kv/app/core}\n");
  ASSERT_TRUE(defaults.ok()) << defaults.status().message();
  EXPECT_EQ(defaults->roles.at("r1").broker_allow, (std::set<std::string>{"shell", "exec"}));
  for (const auto& [yaml, want] : std::vector<std::pair<std::string, std::string>>{
           {"    broker: {target: core, credential: kv/app/other}\n", "must be a rotation target of kind ssh"},
           {"    broker: {target: core, credential: db/x/admin}\n", "must be a rotation target of kind ssh"},
           {"    broker: {target: Core!, credential: kv/app/core}\n", "broker.target must be"},
           {"    broker: {target: core, credential: kv/app/core, allow: [port-forwarding]}\n",
            "port and agent forwarding are always refused"},
           {"    broker: {target: core, credential: kv/app/core, via: gw1}\n", "unknown broker key \"via\""},
           {"    hosts: {env: prod}\n    broker: {target: core, credential: kv/app/core}\n",
            "a broker role puts no account on hosts"}}) {
    auto bad = ParsePolicy(head + yaml);
    ASSERT_FALSE(bad.ok()) << yaml;
    EXPECT_NE(bad.status().message().find("role r1"), std::string::npos) << bad.status().message();
    EXPECT_NE(bad.status().message().find(want), std::string::npos) << bad.status().message();
  }
}

// An RDP broker role names the target's address, account and certificate, and any vault path as
// its credential.
TEST(Policy, RdpBrokerRoles) {
  const std::string head = R"(
groups: {a: [x], admins: [x]}
vault:
  paths:
    "kv/*": {read: [admins]}
roles:
  r1:
    tier: 0
    login: "win-{{user}}"
    approvals: {count: 1, groups: [a]}
)";
  const std::string pin = "7C:98:64:5B:FB:8E:7D:A5:AB:34:AD:E7:A8:3B:34:52:A3:82:2F:1F:E0:52:01:21:CC:D4:7B:1E:30:33:B7:F9";
  auto ok = ParsePolicy(head + "    broker: {protocol: rdp, target: win1, address: \"10.0.0.5\", "
                               "login: 'CORP\\admin', credential: kv/win1/admin, certificate: \"sha256:" +
                        pin + "\"}\n");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  const Role& r = ok->roles.at("r1");
  EXPECT_EQ(r.broker_protocol, "rdp");
  EXPECT_EQ(r.rdp_host, "10.0.0.5");
  EXPECT_EQ(r.rdp_port, 3389);
  EXPECT_EQ(r.rdp_login, "CORP\\admin");
  EXPECT_EQ(r.rdp_certificate, "7c98645bfb8e7da5ab34ade7a83b3452a3822f1fe0520121ccd47b1e3033b7f9");
  EXPECT_EQ(r.rdp_security, "nla");
  const std::string base = "    broker: {protocol: rdp, target: win1, login: admin, credential: kv/w, ";
  const std::string cert = "certificate: \"" + pin + "\"";
  for (const auto& [yaml, want] : std::vector<std::pair<std::string, std::string>>{
           {base + "address: \"h:3390\", " + cert + ", security: tls}\n", ""},
           {base + "address: \"h:99999\", " + cert + "}\n", "broker.address \"h:99999\" must be HOST or HOST:PORT"},
           {base + "address: \"h:x\", " + cert + "}\n", "must be HOST or HOST:PORT"},
           {base + "address: h, certificate: \"abcd\"}\n", "broker.certificate must be the SHA-256"},
           {base + "address: h}\n", "broker.certificate must be the SHA-256"},
           {base + "address: h, " + cert + ", security: rdp}\n", "broker.security \"rdp\""},
           {base + "address: h, " + cert + ", allow: [shell]}\n", "unknown broker key \"allow\""},
           {"    broker: {protocol: rdp, target: win1, login: admin, credential: db/w, address: h, " + cert + "}\n",
            "must be a vault path of the policy"},
           {"    broker: {protocol: rdp, target: win1, credential: kv/w, address: h, " + cert + "}\n",
            "broker.login (the target account"},
           {"    broker: {protocol: vnc, target: win1}\n", "broker.protocol \"vnc\": supported: ssh"},
           {base + "address: h, " + cert + "}\n    require_moderator: {count: 1, groups: [a]}\n",
            "require_moderator is not supported for RDP broker roles"},
           {"    broker: {target: core, credential: kv/w, address: h}\n", "unknown broker key \"address\""}}) {
    auto p = ParsePolicy(head + yaml);
    if (want.empty()) {
      ASSERT_TRUE(p.ok()) << p.status().message();
      EXPECT_EQ(p->roles.at("r1").rdp_port, 3390);
      EXPECT_EQ(p->roles.at("r1").rdp_security, "tls");
      continue;
    }
    ASSERT_FALSE(p.ok()) << yaml;
    EXPECT_NE(p.status().message().find(want), std::string::npos) << p.status().message();
  }
}

TEST(Cidr, ContainmentForNarrowing) {
  auto outer = *ParseCidr("10.0.0.0/8");
  EXPECT_TRUE(CidrContains(outer, *ParseCidr("10.1.2.3")));
  EXPECT_TRUE(CidrContains(outer, *ParseCidr("10.128.0.0/9")));
  EXPECT_FALSE(CidrContains(outer, *ParseCidr("11.0.0.1")));
  EXPECT_FALSE(CidrContains(outer, *ParseCidr("0.0.0.0/0")));
  EXPECT_FALSE(CidrContains(outer, *ParseCidr("::1")));
  EXPECT_TRUE(CidrContains(*ParseCidr("fd00::/8"), *ParseCidr("fd12::1/128")));
  EXPECT_FALSE(ParseCidr("10.0.0.0/33").ok());
  EXPECT_FALSE(ParseCidr("example.com").ok());
}

}  // namespace
}  // namespace warden
