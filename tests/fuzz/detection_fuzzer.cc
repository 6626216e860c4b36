// Fuzzes what the detection rules read (controller/core/detection.h): a change windows file
// (what a change calendar exports) and then audit events, one JSON per line, evaluated by every
// kind of rule. Nothing may throw or crash; every alert raised names a rule of the policy.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "controller/core/detection.h"
#include "controller/core/policy.h"

namespace {

const warden::Policy& FuzzPolicy() {
  static const warden::Policy p = *warden::ParsePolicy(R"(
groups: {admins: [admin], operators: [alice, bob]}
roles:
  t0: {tier: 0, login: "a-{{user}}", requesters: [operators], approvals: {count: 1, groups: [operators]}}
detections:
  change_windows: w.yaml
  rules:
    - {name: window, kind: outside_change_window, tiers: [0], checkouts: ["kv/t0/*"]}
    - {name: chain, kind: approval_chain}
    - {name: watch, kind: command_watch, commands: [visudo], paths: [authorized_keys]}
    - {name: break, kind: reconcile_break}
    - {name: gap, kind: recording_gap}
    - {name: hidden, kind: redaction_limit}
    - {name: tiers, kind: cross_tier}
    - {name: glass, kind: break_glass_login}
    - {name: bypass, kind: bypass_login, tiers: [0]}
)");
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t split = in.find('\0');
  warden::Detector detector(FuzzPolicy());
  auto windows = warden::ParseChangeWindows(in.substr(0, split));
  if (windows.ok()) detector.SetChangeWindows(*windows);
  if (split == std::string_view::npos) return 0;
  std::string_view events = in.substr(split + 1);
  while (!events.empty()) {
    const size_t nl = events.find('\n');
    std::string_view line = events.substr(0, nl);
    events = nl == std::string_view::npos ? std::string_view() : events.substr(nl + 1);
    auto e = nlohmann::json::parse(line, nullptr, false);
    for (const auto& a : detector.Observe(e)) {
      if (!a.rule) __builtin_trap();
      (void)a.ToEvent().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    for (const auto& a : detector.ObserveCommand("s", "h", "u", "acct", 0, line.substr(0, line.find(' ')), line)) {
      if (!a.rule) __builtin_trap();
    }
  }
  return 0;
}
