#include "controller/alerts/alert_query.h"

#include <map>
#include <mutex>

#include "common/strings.h"
#include "controller/alerts/audit_tail.h"
#include "controller/core/detection.h"

namespace warden {

std::string AlertName(const nlohmann::json& a) {
  return a.value("rule", a.value("event", a.value("type", std::string("alert"))));
}

std::string AlertSummary(const nlohmann::json& a) {
  for (const char* k : {"summary", "message", "error", "reason"})
    if (a.contains(k) && a[k].is_string() && !a[k].get<std::string>().empty())
      return a[k].get<std::string>();
  std::string out;
  for (const char* k : {"path", "session", "lease", "sink", "host", "user"})
    if (a.contains(k) && a[k].is_string()) out += StrCat(out.empty() ? "" : " ", k, " ", a[k].get<std::string>());
  return out;
}

absl::StatusOr<AlertPage> ListAlerts(const Identity& who, const Policy& policy,
                                     const std::string& audit_path, const AlertQuery& q) {
  RETURN_IF_ERROR(policy.RequireAuditReader(who.user, !who.host_id.empty(), "alerts"));
  AlertPage page;
  AuditTail tail(audit_path);
  // Where the last read of this log ended: `--follow` asks for what came after it, and need not
  // read the log from its start every round.
  static std::mutex mu;
  static std::map<std::string, AuditCursor> ends;
  AuditCursor at;
  {
    std::lock_guard lock(mu);
    auto it = ends.find(audit_path);
    if (it != ends.end() && q.after_seq >= it->second.seq) at = it->second;
  }
  page.last_seq = at.seq;
  const size_t limit = q.limit ? q.limit : 1000;
  for (;;) {
    ASSIGN_OR_RETURN(std::vector<AuditLine> lines, tail.Read(at, 4096));
    if (lines.empty()) break;
    for (const AuditLine& l : lines) {
      at = l.end;
      page.last_seq = l.seq;
      if (l.seq <= q.after_seq || l.text.find("\"alert\":true") == std::string::npos) continue;
      nlohmann::json e = nlohmann::json::parse(l.text, nullptr, false);
      if (!e.is_object() || !e.value("alert", false)) continue;
      if (q.since_unix && AuditTime(e) < q.since_unix) continue;
      const std::string severity = e.value("severity", "warning");
      if (!q.severity.empty() && severity != q.severity) continue;
      page.alerts.push_back(std::move(e));
      if (q.after_seq && page.alerts.size() >= limit) {
        // Following: the oldest `limit` now, the rest on the next round (nothing skipped).
        page.last_seq = l.seq;
        return page;
      }
      if (page.alerts.size() > limit) page.alerts.erase(page.alerts.begin());
    }
  }
  std::lock_guard lock(mu);
  if (at.seq > ends[audit_path].seq) ends[audit_path] = at;
  return page;
}

}  // namespace warden
