#include "controller/core/detection.h"

#include <algorithm>
#include <ctime>

#include "common/strings.h"

namespace warden {
namespace {

using nlohmann::json;

// Requests and approvals remembered (the oldest forgotten first): bounded whatever the traffic.
constexpr size_t kMaxRequests = 100000;
constexpr size_t kMaxApprovals = 10000;
constexpr size_t kMaxIntents = 10000;
constexpr int kMaxWatchedPerSession = 5;

std::string Offset(int64_t ns) {
  const int64_t s = std::max<int64_t>(ns, 0) / 1000000000;
  char buf[32];
  snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(s / 3600),
           static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool Covers(const std::vector<int>& tiers, int tier) {
  return tiers.empty() || std::find(tiers.begin(), tiers.end(), tier) != tiers.end();
}

// The program's name: argv[0]'s last path element.
std::string_view ProgramName(std::string_view command) {
  std::string_view argv0 = command.substr(0, command.find(' '));
  const size_t slash = argv0.rfind('/');
  return slash == std::string_view::npos ? argv0 : argv0.substr(slash + 1);
}

}  // namespace

int64_t AuditTime(const json& event) {
  const std::string ts = Str(event, "ts");
  struct tm tm = {};
  const char* end = strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return end && *end == '\0' ? static_cast<int64_t>(timegm(&tm)) : 0;
}

json DetectedAlert::ToEvent() const {
  return {{"event", "alert"},           {"alert", true},        {"rule", rule->name},
          {"kind", rule->kind},         {"severity", rule->severity},
          {"summary", summary},         {"evidence", evidence}};
}

void Detector::SetChangeWindows(std::vector<ChangeWindow> windows) {
  std::lock_guard lock(mu_);
  windows_ = std::move(windows);
}

void Detector::Fire(std::string_view kind, std::vector<DetectedAlert>& out, std::string summary,
                    json evidence, int tier) {
  for (const DetectionRule& r : policy_.detections.rules) {
    if (r.kind != kind) continue;
    if (tier >= 0 && !Covers(r.tiers, tier)) continue;
    out.push_back({&r, summary, evidence});
  }
}

std::vector<DetectedAlert> Detector::Observe(const json& event) {
  std::vector<DetectedAlert> out;
  if (!event.is_object() || empty()) return out;
  std::lock_guard lock(mu_);
  try {
    ObserveLocked(event, out);
  } catch (const json::exception&) {
    // A field of another type than the controller writes: not an event any rule knows.
  }
  return out;
}

void Detector::ObserveLocked(const json& event, std::vector<DetectedAlert>& out) {
  const uint64_t seq = event.value("seq", uint64_t{0});
  const std::string name = Str(event, "event"), type = Str(event, "type");
  if (name == "alert") return;  // never an alert about an alert
  if (type == "intent") {
    const std::string call = Str(event, "call");
    if (call == "AccessService.CreateRequest" || call == "AccessService.ApproveRequest" ||
        call == "VaultService.Get" || call == "VaultService.Unwrap") {
      if (intents_.size() >= kMaxIntents) intents_.erase(intents_.begin());
      json args = event.value("args", json::object());
      args["actor"] = Str(event, "actor");
      args["seq"] = seq;
      intents_[seq] = std::move(args);
    }
    return;
  }
  if (type == "outcome") {
    auto it = intents_.find(event.value("intent", uint64_t{0}));
    if (it == intents_.end()) return;
    const json intent = std::move(it->second);
    intents_.erase(it);
    const std::string call = Str(event, "call"), code = Str(event, "code");
    const json result = event.value("result", json::object());
    if ((call == "VaultService.Get" || call == "VaultService.Unwrap") && code == "OK") {
      if (result.contains("checked_out_until")) {
        const std::string path = call == "VaultService.Get" ? Str(intent, "path") : Str(result, "path");
        OnCheckout(event, Str(intent, "actor"), path, intent.value("seq", uint64_t{0}), out);
      }
      return;
    }
    if (call == "AccessService.CreateRequest" && code == "OK") {
      const std::string id = Str(result, "id");
      if (requests_.size() >= kMaxRequests) {
        // The oldest request goes (pending ones expire within the policy's request_ttl).
        auto oldest = std::min_element(requests_.begin(), requests_.end(), [](const auto& a, const auto& b) {
          return a.second.seq < b.second.seq;
        });
        requests_.erase(oldest);
      }
      Request& r = requests_[id];
      r = {Str(intent, "actor"), Str(intent, "role"), seq};
      if (Str(result, "state") == "approved") {
        OnGrant(event, r, out);
        requests_.erase(id);
      }
    } else if (call == "AccessService.ApproveRequest") {
      const std::string id = Str(intent, "id"), approver = Str(intent, "actor");
      auto req = requests_.find(id);
      if (req == requests_.end()) return;
      if (code == "OK") {
        OnApproval(event, approver, id, out);
        if (Str(result, "state") == "approved") {
          OnGrant(event, req->second, out);
          requests_.erase(req);  // decided: later approvals of it are refused
        }
      } else if (approver == req->second.requester) {
        Fire("approval_chain", out,
             StrCat(approver, " tried to approve their own request ", id, " (refused)"),
             {{"events", {req->second.seq, seq}}, {"user", approver}, {"request", id}});
      }
    }
    return;
  }
  if (name == "vault.reconcile_break") {
    Fire("reconcile_break", out,
         StrCat("the vaulted credential at ", Str(event, "path"),
                " no longer authenticates against its target"),
         {{"events", {seq}}, {"path", Str(event, "path")}});
  } else if (name == "recording.sealed" && event.value("lost_bytes", uint64_t{0}) > 0) {
    Fire("recording_gap", out,
         StrCat("session ", Str(event, "session"), " was recorded with ",
                event.value("lost_bytes", uint64_t{0}), " bytes lost"),
         {{"events", {seq}}, {"session", Str(event, "session")}, {"host", Str(event, "host")}});
  } else if (name == "recording.alert") {
    const bool redaction = Str(event, "kind") == "redaction_limit";
    Fire(redaction ? "redaction_limit" : "recording_gap", out,
         StrCat("session ", Str(event, "session"), " of ", Str(event, "user"), ": ",
                Str(event, "message")),
         {{"events", {seq}},
          {"session", Str(event, "session")},
          {"host", Str(event, "host")},
          {"user", Str(event, "user")}});
  } else if (name == "host.login") {
    const std::string kind = Str(event, "kind");
    const int tier = event.value("tier", -1);
    const std::string who = Str(event, "user"), host = Str(event, "hostname");
    const std::string from = Str(event, "from").empty() ? "" : StrCat(" from ", Str(event, "from"));
    json evidence = {{"events", {seq}}, {"host", Str(event, "host")}, {"hostname", host},
                     {"user", who}, {"line", Str(event, "line")}, {"from", Str(event, "from")}};
    if (kind == "break_glass") {
      Fire("break_glass_login", out,
           StrCat("break-glass account ", who, " logged in on ", host, " (tier ", tier, ")", from),
           std::move(evidence), tier);
    } else if (kind == "bypass") {
      Fire("bypass_login", out,
           StrCat("privileged account ", who, " logged in on ", host, " (tier ", tier, ")", from,
                  " without going through Warden"),
           std::move(evidence), tier);
    }
  } else if (name == "broker.cross_tier") {
    const int tier = event.value("credential_tier", -1);
    Fire("cross_tier", out,
         StrCat(Str(event, "user"), " tried a tier-", tier, " credential at tier-",
                event.value("gateway_tier", -1), " gateway ", Str(event, "gateway")),
         {{"events", {seq}}, {"user", Str(event, "user")}, {"gateway", Str(event, "gateway")}},
         tier);
  }
  return;
}

void Detector::OnGrant(const json& event, const Request& r, std::vector<DetectedAlert>& out) {
  absl::StatusOr<const Role*> role = policy_.FindRole(r.role);
  if (!role.ok()) return;
  const int tier = (*role)->tier;
  const int64_t at = AuditTime(event);
  for (const ChangeWindow& w : windows_)
    if (at >= w.start && at < w.end && Covers(w.tiers, tier)) return;
  const std::string grant = Str(event.value("result", json::object()), "grant");
  Fire("outside_change_window", out,
       StrCat("grant ", grant, " of tier-", tier, " role ", r.role, " for ", r.requester,
              " was approved at ", Str(event, "ts"), ", outside every change window"),
       {{"events", {r.seq, event.value("seq", uint64_t{0})}},
        {"user", r.requester},
        {"grant", grant},
        {"role", r.role}},
       tier);
}

void Detector::OnCheckout(const json& event, const std::string& actor, const std::string& path,
                          uint64_t intent_seq, std::vector<DetectedAlert>& out) {
  const int64_t at = AuditTime(event);
  for (const DetectionRule& rule : policy_.detections.rules) {
    if (rule.kind != "outside_change_window") continue;
    const bool watched = std::any_of(rule.checkouts.begin(), rule.checkouts.end(), [&](const std::string& p) {
      return p.back() == '*' ? path.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0 : p == path;
    });
    if (!watched) continue;
    bool covered = false;
    for (const ChangeWindow& w : windows_) {
      if (at < w.start || at >= w.end) continue;
      covered = w.tiers.empty() || rule.tiers.empty() ||
                std::any_of(rule.tiers.begin(), rule.tiers.end(), [&](int t) { return Covers(w.tiers, t); });
      if (covered) break;
    }
    if (covered) continue;
    out.push_back({&rule,
                   StrCat(actor, " checked out ", path, " at ", Str(event, "ts"),
                          ", outside every change window"),
                   {{"events", {intent_seq, event.value("seq", uint64_t{0})}},
                    {"user", actor},
                    {"path", path}}});
  }
}

void Detector::OnApproval(const json& event, const std::string& approver,
                          const std::string& request, std::vector<DetectedAlert>& out) {
  const std::string& requester = requests_[request].requester;
  const int64_t at = AuditTime(event);
  const uint64_t seq = event.value("seq", uint64_t{0});
  for (const DetectionRule& rule : policy_.detections.rules) {
    if (rule.kind != "approval_chain") continue;
    // One alert per pair within `within`: their later approvals add nothing new.
    const std::string pair = approver < requester ? StrCat(approver, "\n", requester)
                                                  : StrCat(requester, "\n", approver);
    auto alerted = chains_.find(pair);
    if (alerted != chains_.end() && at - alerted->second <= rule.within) continue;
    for (const Approval& a : approvals_) {
      if (a.approver == requester && a.requester == approver && at - a.at <= rule.within) {
        if (chains_.size() >= kMaxApprovals) chains_.clear();
        chains_[pair] = at;
        out.push_back({&rule,
                       StrCat(approver, " and ", requester, " approved each other's requests (",
                              a.request, " and ", request, ")"),
                       {{"events", {a.seq, seq}}, {"users", {approver, requester}},
                        {"requests", {a.request, request}}}});
        break;
      }
    }
  }
  if (approvals_.size() >= kMaxApprovals) approvals_.pop_front();
  approvals_.push_back({approver, requester, request, at, seq});
}

std::vector<DetectedAlert> Detector::ObserveCommand(std::string_view session, std::string_view host,
                                                    std::string_view user, std::string_view account,
                                                    int64_t offset_ns, std::string_view filename,
                                                    std::string_view command) {
  std::vector<DetectedAlert> out;
  // The program is known by the file the kernel ran, whatever argv[0] claims (exec -a).
  const std::string_view program = ProgramName(filename.empty() ? command : filename);
  const std::string_view named = ProgramName(command);
  // Paths compared without their redundant parts: /etc//shadow and /etc/./shadow are /etc/shadow.
  std::string plain;
  for (size_t i = 0; i < command.size(); i++) {
    if (command[i] == '/' && !plain.empty() && plain.back() == '/') continue;
    if (command.substr(i, 2) == "./" && !plain.empty() && plain.back() == '/') {
      i++;
      continue;
    }
    plain += command[i];
  }
  std::lock_guard lock(mu_);
  for (const DetectionRule& r : policy_.detections.rules) {
    if (r.kind != "command_watch") continue;
    std::string matched;
    for (const std::string& c : r.commands)
      if (program == c || named == c) matched = c;
    for (const std::string& p : r.paths)
      if (matched.empty() && plain.find(p) != std::string::npos) matched = p;
    if (matched.empty()) continue;
    // A loop of watched commands is one finding, not a flood that buries the others.
    if (watched_.size() >= kMaxApprovals) watched_.clear();
    const int n = ++watched_[StrCat(session, "\n", r.name)];
    if (n > kMaxWatchedPerSession) continue;
    out.push_back({&r,
                   StrCat("session ", session, " of ", user, " (as ", account, ") on ", host,
                          " ran \"", command.substr(0, 200), "\" (watched: ", matched, ")",
                          n == kMaxWatchedPerSession ? "; further matches of this rule in this "
                                                       "session are not alerted"
                                                     : ""),
                   {{"session", session},
                    {"offset", Offset(offset_ns)},
                    {"offset_seconds", std::max<int64_t>(offset_ns, 0) / 1000000000},
                    {"host", host},
                    {"user", user},
                    {"account", account},
                    {"program", filename},
                    {"command", command}}});
  }
  return out;
}

}  // namespace warden
