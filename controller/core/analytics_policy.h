// The policy's `siem:` and `detections:` sections: where every audit event and alert is
// forwarded (controller/alerts/siem_forwarder.h sends them), and the rules that turn the event
// stream into alerts (controller/core/detection.h evaluates them).
//
//   siem:
//     sinks:
//       soc:                           # the sink's name (its cursor: <data_dir>/siem/soc.cursor)
//         type: syslog                 # RFC 5424 over TCP, octet-counted framing (RFC 6587)
//         address: siem.example:6514
//         tls: true                    # default false; the collector's certificate is checked
//         ca_file: /etc/warden/soc-ca.pem  #   against ca_file (default: the system's CAs)
//         server_name: siem.example    #   and its name (default: the address's host)
//       soc-api:
//         type: webhook                # JSON lines POSTed over HTTP(S); a 2xx answer delivers
//         url: https://siem.example/ingest
//         ca_file: /etc/warden/soc-ca.pem
//       archive:
//         type: file                   # JSON lines appended to a local file (fsync'ed)
//         path: /var/log/warden/events.jsonl
//     lag_alert_events: 10000          # a sink this many events behind is alerted, once per
//     lag_alert_seconds: 300           #   outage, and so is one with nothing delivered this long
//
//   detections:
//     change_windows: /etc/warden/change-windows.yaml   # read again whenever it changes
//     rules:
//       - name: tier0-outside-change-window  # the alert's name
//         kind: outside_change_window  # what it looks for (kDetectionKinds, detection.h)
//         severity: critical           # critical or warning (default)
//         tiers: [0]                   # outside_change_window: grants of these tiers' roles
//         checkouts: ["kv/tier0/*"]    #   and check-outs of these vault paths
//       - {name: break-glass, kind: break_glass_login, severity: critical}
//       - {name: bypass, kind: bypass_login, tiers: [0, 1]}   # login records of the hosts
//       - {name: watched-commands, kind: command_watch, commands: [useradd, visudo],
//          paths: [authorized_keys, /etc/sudoers]}
//       - {name: collusion, kind: approval_chain, within: 24h}
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace YAML {
class Node;
}

namespace warden {

struct SiemSinkPolicy {
  std::string name;
  std::string type;  // syslog, webhook, file
  std::string address;  // syslog: host:port
  bool tls = false;     // syslog
  std::string server_name;  // syslog over TLS (default: the address's host)
  std::string url;      // webhook
  std::string ca_file;  // syslog over TLS, https webhook (empty: the system's CAs)
  std::string path;     // file
};

struct SiemPolicy {
  std::vector<SiemSinkPolicy> sinks;
  uint64_t lag_alert_events = 10000;
  int64_t lag_alert_seconds = 300;
};

inline constexpr const char* kDetectionKinds[] = {
    "outside_change_window", "reconcile_break", "recording_gap", "approval_chain",
    "command_watch",         "redaction_limit", "cross_tier",     "break_glass_login",
    "bypass_login"};

struct DetectionRule {
  std::string name;
  std::string kind;
  std::string severity = "warning";
  // outside_change_window, cross_tier, break_glass_login, bypass_login (empty: every tier)
  std::vector<int> tiers;
  // outside_change_window: check-outs of these vault paths ("kv/a/b", or a prefix "kv/a/*")
  // count like grants of the rule's tiers (a window of any of them covers them)
  std::vector<std::string> checkouts;
  std::vector<std::string> commands;   // command_watch: program names (the basename of argv[0])
  std::vector<std::string> paths;      // command_watch: substrings of an argument
  int64_t within = 86400;              // approval_chain: how far back approvals count
};

struct DetectionPolicy {
  std::string change_windows_file;  // absolute, or relative to the policy file's directory
  std::vector<DetectionRule> rules;
};

absl::Status ParseSiem(const YAML::Node& n, SiemPolicy& out);
absl::Status ParseDetections(const YAML::Node& n, DetectionPolicy& out);

// A change window: grants of `tiers` (empty: every tier) are expected from start to end.
struct ChangeWindow {
  std::string id;
  int64_t start = 0, end = 0;  // unix seconds
  std::vector<int> tiers;
};

// The change windows file: `windows: [{id: CHG-1234, start: 2026-12-01T08:00:00Z,
// end: 2026-12-01T12:00:00Z, tiers: [0]}]` (what a change calendar's export becomes).
absl::StatusOr<std::vector<ChangeWindow>> ParseChangeWindows(std::string_view yaml_text);

}  // namespace warden
