// Access policy, loaded from YAML: groups, roles, and the settings around requests.
//
//   groups:
//     approvers: [bob, carol]
//   roles:
//     tier0-linux-admin:
//       tier: 0
//       login: "adm-{{user}}"
//       max_ttl: 4h
//       cert_ttl: 30m
//       requesters: [operators]            # groups that may request (empty = anyone)
//       approvals: {count: 2, groups: [approvers]}
//       extensions: {allowed: [permit-pty, permit-port-forwarding], default: [permit-pty]}
//       critical_options:                  # mandatory; requests may narrow, never drop
//         source-address: "127.0.0.0/8"
//       hosts: {env: prod}                 # label selector; absent = every host of the tier
//       account:                           # the ephemeral account on those hosts
//         groups: [warden-admins]          # supplementary groups (Warden-managed, gid allocated)
//         sudo: "ALL=(ALL) NOPASSWD: ALL"  # sudoers rule (user spec without the user); "" = none
//         shell: /bin/bash
//       recording: {input: redact}         # keystrokes: redact (password prompts), full, off
//                                          # (`all`: older spelling of full); mode: strict or
//                                          # best_effort; max_redacted_lines: 3 (then flagged);
//                                          # on_redaction_limit: alert, hold or end (default:
//                                          # end if strict, else alert); hold_wait: 10m
//       require_moderator:                 # four-eyes: a login waits until moderators watch
//         {count: 1, groups: [leads], on_leave: terminate, wait: 10m}   # on_leave: or pause
//       broker:                            # sessions through warden-sshgw (docs/ssh-gateway.md)
//         target: core-banking             # the name operators use: LOGIN@core-banking
//         credential: kv/appliance/core    # a rotation target of kind ssh: address, login and
//                                          #   pinned host key; its vaulted password is injected
//         allow: [shell, exec]             # channels: shell, exec, sftp (default: shell, exec)
//                                          # A broker role puts no account on any host.
//   request_ttl: 1h
//   operator_cert_ttl: 8h
//   admins: [admins]                       # groups with CA rotation and audit export rights
//   recording_viewers: [auditors]          # groups that may list, replay and verify recordings
//                                          # (default: the admins groups)
//   account_ids: {first: 1879048192, count: 16777216}   # uids/gids of ephemeral accounts
//   vault:
//     custodians: [admins]                 # who may unseal and seal (one share per person)
//     max_wrap_ttl: 1h                     # cap on every wrapping token's life
//     paths:
//       "kv/tier0/*":                      # a path, or a prefix ending in *; the longest wins
//         read: [operators]                # capability -> groups: read, write, list, delete,
//                                          # destroy, rotate (rotate and reconcile on demand)
//         write: [admins]
//         control_group: {approvals: 2, groups: [approvers], ttl: 15m}  # reads return a wrap
//         checkout: {lease: 1h, rotate_after_use: true}  # exclusive until check-in or lease end
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/duration.h"
#include "common/status.h"
#include "controller/core/analytics_policy.h"
#include "controller/core/db_policy.h"
#include "controller/core/rotation_policy.h"

namespace warden {

struct Role {
  std::string name;
  int tier = 0;
  std::string login_template;
  int64_t max_ttl = 3600;
  int64_t cert_ttl = 1800;
  std::vector<std::string> requester_groups;
  int approvals_required = 2;
  std::vector<std::string> approver_groups;
  std::set<std::string> allowed_extensions;
  std::set<std::string> default_extensions;
  std::vector<std::string> source_addresses;  // mandatory source-address CIDRs (empty = none)
  std::string force_command;                  // mandatory force-command (empty = none)
  std::map<std::string, std::string> host_labels;  // hosts whose labels include all of these
  std::vector<std::string> account_groups;
  std::string sudo_rule;
  std::string shell = "/bin/bash";
  std::string recording_input = "redact";  // redact, full, off
  std::string recording_mode = "best_effort";  // best_effort, strict
  // Lines typed without echo beyond this flag the session (an alert), and then
  // `on_redaction_limit` applies: "alert" (nothing more), "hold" (the session is paused until a
  // moderator watches it, see HoldModeratorGroups; ended after `moderator_wait`) or "end".
  // Default: "end" under recording mode strict, else "alert".
  uint32_t max_redacted_lines = 3;
  std::string on_redaction_limit = "alert";
  // Four-eyes: sessions wait at their start until this many members of `moderator_groups` (never
  // the requester) watch them live; when fewer remain, `moderator_on_leave` (terminate, pause).
  int moderators_required = 0;
  std::vector<std::string> moderator_groups;
  std::string moderator_on_leave = "terminate";
  // How long a login (or a paused or held session) waits for them: require_moderator.wait, or
  // recording.hold_wait for a role without require_moderator.
  int64_t moderator_wait = 600;
  // Brokered by warden-sshgw (empty broker_target: not a broker role). A broker role's grant
  // puts no ephemeral account on hosts: its only use is a gateway session to the target.
  std::string broker_target;
  std::string broker_protocol = "ssh";  // ssh (warden-sshgw) or rdp (warden-rdpgw)
  // ssh: a rotation target path of kind ssh; rdp: any vault path (the target account's password).
  std::string broker_credential;
  std::set<std::string> broker_allow = {"shell", "exec"};  // ssh
  // rdp: the target, its account, its TLS certificate's SHA-256 (lowercase hex) and the
  // security the gateway's leg to it uses (nla, or tls for a target that cannot do NLA).
  std::string rdp_host, rdp_login, rdp_certificate, rdp_security;
  int rdp_port = 0;

  // Who may resume a session held at the redaction limit: the role's moderator groups, or, for a
  // role without require_moderator, its approval groups (never the requester: checked by the
  // caller, as for approvals).
  const std::vector<std::string>& HoldModeratorGroups() const {
    return moderator_groups.empty() ? approver_groups : moderator_groups;
  }
  // True when a host with `labels` is selected by this role (the tier is checked separately).
  bool SelectsHost(const std::map<std::string, std::string>& labels) const;
};

struct VaultPathPolicy {
  std::string pattern;  // "kv/a/b" exactly, or "kv/a/*": everything below kv/a/
  std::map<std::string, std::vector<std::string>> capabilities;  // capability -> groups
  int approvals = 0;    // control group: authorizations needed before a read can be unwrapped
  std::vector<std::string> approver_groups;
  int64_t wrap_ttl = 900;
  bool checkout = false;  // reads are exclusive check-outs
  int64_t checkout_lease = 3600;
  bool rotate_after_use = false;

  bool Matches(std::string_view path) const;
};

inline constexpr const char* kVaultCapabilities[] = {"read",   "write",  "list",
                                                     "delete", "destroy", "rotate"};

struct Policy {
  std::map<std::string, std::set<std::string>> groups;  // group -> members
  std::map<std::string, Role> roles;
  std::vector<std::string> admin_groups = {"admins"};
  std::vector<std::string> recording_viewer_groups = {"admins"};
  int64_t request_ttl = 3600;
  int64_t operator_cert_ttl = 8 * 3600;
  // Ephemeral accounts' uids and groups' gids: above systemd's container range
  // (524288-1879048191), below 2^31. Allocated once each, never reused.
  int64_t account_id_first = 1879048192;
  int64_t account_id_count = 16777216;
  std::vector<std::string> vault_custodian_groups = {"admins"};
  int64_t vault_max_wrap_ttl = 3600;
  std::vector<VaultPathPolicy> vault_paths;
  DatabasePolicy databases;  // dynamic database credentials (db_policy.h)
  RotationPolicy rotation;   // credentials Warden changes and reconciles (rotation_policy.h)
  SiemPolicy siem;             // where events and alerts are forwarded (analytics_policy.h)
  DetectionPolicy detections;  // the rules that raise alerts (analytics_policy.h)

  // The most specific vault path policy for `path` (nullptr: none, nobody may touch it).
  const VaultPathPolicy* VaultPathFor(std::string_view path) const;

  std::vector<std::string> GroupsOf(std::string_view user) const;
  bool InAnyGroup(std::string_view user, const std::vector<std::string>& groups) const;
  bool IsAdmin(std::string_view user) const { return InAnyGroup(user, admin_groups); }
  // Alerts and coverage are read by admins and recording viewers: anyone else, and any host
  // (`host`), is refused with the groups named; `what` says what was asked for.
  absl::Status RequireAuditReader(std::string_view user, bool host, std::string_view what) const;
  absl::StatusOr<const Role*> FindRole(std::string_view name) const;
};

inline constexpr int kMaxTier = 2;

absl::StatusOr<Policy> ParsePolicy(std::string_view yaml_text);
absl::StatusOr<Policy> LoadPolicyFile(const std::string& path);

// Login name for `user` under `role`: the rendered template (only {{user}} is substituted).
absl::StatusOr<std::string> RenderLogin(const Role& role, std::string_view user);

// A CIDR block; IPv4 or IPv6.
struct Cidr {
  bool v6 = false;
  uint8_t addr[16] = {};
  int prefix = 0;
};
absl::StatusOr<Cidr> ParseCidr(std::string_view text);
// True when every address of `inner` lies inside `outer`.
bool CidrContains(const Cidr& outer, const Cidr& inner);

}  // namespace warden
