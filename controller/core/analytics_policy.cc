#include "controller/core/analytics_policy.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <ctime>

#include "common/duration.h"
#include "common/strings.h"
#include "controller/core/policy.h"
#include "controller/core/policy_yaml.h"

namespace warden {
namespace {

std::vector<int> Tiers(const YAML::Node& n, const std::string& where) {
  std::vector<int> out;
  if (!n) return out;
  if (!n.IsSequence()) throw std::runtime_error(where + ".tiers must be a list of tiers");
  for (const auto& t : n) {
    const int tier = t.as<int>();
    if (tier < 0 || tier > kMaxTier)
      throw std::runtime_error(StrCat(where, ".tiers: tier ", tier, " does not exist (0 to ",
                                      kMaxTier, ")"));
    out.push_back(tier);
  }
  return out;
}

// "2026-12-01T08:00:00Z" as unix seconds.
absl::StatusOr<int64_t> ParseUtc(const std::string& text, const std::string& where) {
  struct tm tm = {};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (!end || *end != '\0')
    return absl::InvalidArgumentError(
        StrCat(where, ": \"", text, "\" is not a UTC time like 2026-12-01T08:00:00Z"));
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

absl::Status ParseSiem(const YAML::Node& n, SiemPolicy& out) {
  RETURN_IF_ERROR(PolicyOnlyKeys(n, "siem", {"sinks", "lag_alert_events", "lag_alert_seconds"}));
  out.lag_alert_events = n["lag_alert_events"].as<uint64_t>(out.lag_alert_events);
  out.lag_alert_seconds = n["lag_alert_seconds"].as<int64_t>(out.lag_alert_seconds);
  if (out.lag_alert_events < 1 || out.lag_alert_seconds < 1)
    return absl::InvalidArgumentError("siem: lag_alert_events and lag_alert_seconds must be >= 1");
  const YAML::Node& sinks = n["sinks"];
  if (!sinks) return absl::OkStatus();
  if (!sinks.IsMap()) return absl::InvalidArgumentError("siem.sinks must be a mapping of names to sinks");
  for (const auto& kv : sinks) {
    SiemSinkPolicy s;
    s.name = kv.first.as<std::string>();
    const std::string where = StrCat("siem.sinks.", s.name);
    if (s.name.empty() || s.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") !=
                              std::string::npos)
      return absl::InvalidArgumentError(
          StrCat(where, ": a sink's name is lowercase letters, digits, - and _ (it names a file)"));
    const YAML::Node& v = kv.second;
    RETURN_IF_ERROR(PolicyOnlyKeys(
        v, where, {"type", "address", "tls", "server_name", "url", "ca_file", "path"}));
    s.type = v["type"].as<std::string>("");
    s.ca_file = v["ca_file"].as<std::string>("");
    if (s.type == "syslog") {
      RETURN_IF_ERROR(PolicyOnlyKeys(v, where, {"type", "address", "tls", "server_name", "ca_file"}));
      s.address = v["address"].as<std::string>("");
      s.tls = v["tls"].as<bool>(false);
      s.server_name = v["server_name"].as<std::string>("");
      const size_t colon = s.address.rfind(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == s.address.size() ||
          s.address.find_first_not_of("0123456789", colon + 1) != std::string::npos)
        return absl::InvalidArgumentError(
            StrCat(where, ": address must be HOST:PORT (e.g. siem.example:6514), got \"",
                   s.address, "\""));
      if (!s.tls && (!s.ca_file.empty() || !s.server_name.empty()))
        return absl::InvalidArgumentError(
            StrCat(where, ": ca_file and server_name are for tls: true"));
    } else if (s.type == "webhook") {
      RETURN_IF_ERROR(PolicyOnlyKeys(v, where, {"type", "url", "ca_file"}));
      s.url = v["url"].as<std::string>("");
      if (s.url.rfind("https://", 0) != 0 && s.url.rfind("http://", 0) != 0)
        return absl::InvalidArgumentError(
            StrCat(where, ": url must be an http:// or https:// URL"));
    } else if (s.type == "file") {
      RETURN_IF_ERROR(PolicyOnlyKeys(v, where, {"type", "path"}));
      s.path = v["path"].as<std::string>("");
      if (s.path.empty() || s.path[0] != '/')
        return absl::InvalidArgumentError(StrCat(where, ": path must be an absolute file name"));
    } else {
      return absl::InvalidArgumentError(StrCat(where, ": type \"", s.type,
                                               "\" is not a sink type; supported: syslog, webhook, file"));
    }
    out.sinks.push_back(std::move(s));
  }
  return absl::OkStatus();
}

absl::Status ParseDetections(const YAML::Node& n, DetectionPolicy& out) {
  RETURN_IF_ERROR(PolicyOnlyKeys(n, "detections", {"change_windows", "rules"}));
  out.change_windows_file = n["change_windows"].as<std::string>("");
  const YAML::Node& rules = n["rules"];
  if (!rules) return absl::OkStatus();
  if (!rules.IsSequence()) return absl::InvalidArgumentError("detections.rules must be a list");
  for (size_t i = 0; i < rules.size(); i++) {
    const YAML::Node& r = rules[i];
    DetectionRule d;
    std::string where = StrCat("detections.rules[", i, "]");
    RETURN_IF_ERROR(PolicyOnlyKeys(
        r, where, {"name", "kind", "severity", "tiers", "commands", "paths", "within", "checkouts"}));
    d.name = r["name"].as<std::string>("");
    if (d.name.empty()) return absl::InvalidArgumentError(StrCat(where, ": a rule needs a name"));
    where = StrCat("detections rule \"", d.name, "\"");
    for (const DetectionRule& other : out.rules)
      if (other.name == d.name)
        return absl::InvalidArgumentError(StrCat(where, " is defined twice"));
    d.kind = r["kind"].as<std::string>("");
    if (std::find_if(std::begin(kDetectionKinds), std::end(kDetectionKinds),
                     [&](const char* k) { return d.kind == k; }) == std::end(kDetectionKinds)) {
      std::string kinds;
      for (const char* k : kDetectionKinds) kinds += StrCat(kinds.empty() ? "" : ", ", k);
      return absl::InvalidArgumentError(
          StrCat(where, ": kind \"", d.kind, "\" is unknown; supported: ", kinds));
    }
    d.severity = r["severity"].as<std::string>(d.severity);
    if (d.severity != "critical" && d.severity != "warning")
      return absl::InvalidArgumentError(
          StrCat(where, ": severity must be critical or warning, not \"", d.severity, "\""));
    d.tiers = Tiers(r["tiers"], where);
    d.commands = PolicyStrings(r["commands"], where + ".commands");
    d.paths = PolicyStrings(r["paths"], where + ".paths");
    d.checkouts = PolicyStrings(r["checkouts"], where + ".checkouts");
    if (r["checkouts"] && d.kind != "outside_change_window")
      return absl::InvalidArgumentError(StrCat(where, ": checkouts is for outside_change_window"));
    for (const std::string& c : d.checkouts)
      if (c.empty() || (c.find('*') != std::string::npos && (c.back() != '*' || c.find('*') != c.size() - 1)))
        return absl::InvalidArgumentError(StrCat(
            where, ": checkouts: \"", c, "\" is not a vault path or a prefix ending in *"));
    if (r["within"]) {
      ASSIGN_OR_RETURN(d.within, ParseDuration(r["within"].as<std::string>()));
    }
    const bool uses_tiers = d.kind == "outside_change_window" || d.kind == "cross_tier" ||
                            d.kind == "break_glass_login" || d.kind == "bypass_login";
    if (!uses_tiers && r["tiers"])
      return absl::InvalidArgumentError(StrCat(
          where, ": tiers is for outside_change_window, cross_tier, break_glass_login and bypass_login"));
    if (d.kind == "command_watch") {
      if (d.commands.empty() && d.paths.empty())
        return absl::InvalidArgumentError(
            StrCat(where, ": a command_watch rule needs commands or paths to watch for"));
    } else if (r["commands"] || r["paths"]) {
      return absl::InvalidArgumentError(StrCat(where, ": commands and paths are for command_watch"));
    }
    if (d.kind != "approval_chain" && r["within"])
      return absl::InvalidArgumentError(StrCat(where, ": within is for approval_chain"));
    if (d.kind == "outside_change_window" && out.change_windows_file.empty())
      return absl::InvalidArgumentError(
          StrCat(where, ": outside_change_window needs detections.change_windows (the file of "
                        "approved change windows)"));
    out.rules.push_back(std::move(d));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ChangeWindow>> ParseChangeWindows(std::string_view yaml_text) {
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    if (root.IsNull()) return std::vector<ChangeWindow>{};
    RETURN_IF_ERROR(PolicyOnlyKeys(root, "change windows", {"windows"}));
    std::vector<ChangeWindow> out;
    const YAML::Node& ws = root["windows"];
    if (!ws) return out;
    if (!ws.IsSequence()) return absl::InvalidArgumentError("change windows: windows must be a list");
    for (size_t i = 0; i < ws.size(); i++) {
      const std::string where = StrCat("change windows: windows[", i, "]");
      RETURN_IF_ERROR(PolicyOnlyKeys(ws[i], where, {"id", "start", "end", "tiers"}));
      ChangeWindow w;
      w.id = ws[i]["id"].as<std::string>("");
      if (w.id.empty()) return absl::InvalidArgumentError(StrCat(where, ": a window needs an id"));
      ASSIGN_OR_RETURN(w.start, ParseUtc(ws[i]["start"].as<std::string>(""), StrCat(where, ".start")));
      ASSIGN_OR_RETURN(w.end, ParseUtc(ws[i]["end"].as<std::string>(""), StrCat(where, ".end")));
      if (w.end <= w.start)
        return absl::InvalidArgumentError(StrCat(where, " (", w.id, "): it ends before it starts"));
      w.tiers = Tiers(ws[i]["tiers"], where);
      out.push_back(std::move(w));
    }
    return out;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(StrCat("change windows: ", e.what()));
  }
}

}  // namespace warden
