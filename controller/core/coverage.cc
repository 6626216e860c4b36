#include "controller/core/coverage.h"

#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace warden {

using nlohmann::json;

namespace {

std::string GroupOf(const HostRow& h) {
  try {
    const json labels = json::parse(h.labels.empty() ? "{}" : h.labels);
    if (labels.is_object() && labels.contains(kHostGroupLabel) && labels[kHostGroupLabel].is_string())
      return labels[kHostGroupLabel].get<std::string>();
  } catch (const json::exception&) {
  }
  return "";
}

std::set<std::string> Names(const Inventory& inv, bool standing_only) {
  std::set<std::string> out;
  for (const InventoryAccount& a : inv.privileged)
    if (!standing_only || a.Standing()) out.insert(a.name);
  return out;
}

std::vector<std::string> Minus(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::vector<std::string> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace

bool Coverage::PasswordRotated(std::string_view hostname, std::string_view account) const {
  for (const auto& [path, t] : policy_.rotation.targets)
    if (t.kind == "linux" && t.host == hostname && t.user == account) return true;
  return false;
}

absl::Status Coverage::Report(std::string_view host_id, const std::optional<Inventory>& inventory,
                              const std::vector<HostLogin>& logins) {
  if (logins.size() > kMaxLoginsPerReport)
    return absl::InvalidArgumentError(
        StrCat("inventory report: ", logins.size(), " logins; at most ", kMaxLoginsPerReport));
  if (inventory) RETURN_IF_ERROR(CheckInventory(*inventory));
  for (const HostLogin& l : logins) RETURN_IF_ERROR(CheckLogin(l));
  ASSIGN_OR_RETURN(std::optional<HostRow> host, hosts_.GetHost(host_id));
  if (!host) return absl::NotFoundError(StrCat("host ", host_id, " is not enrolled"));
  const int64_t now = clock_.Now();

  ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
  if (inventory) {
    ASSIGN_OR_RETURN(std::optional<InventoryRow> before, store_.GetInventory(host_id));
    Inventory old;
    if (before) {
      absl::StatusOr<Inventory> parsed = InventoryFromJson(json::parse(before->inventory, nullptr, false));
      if (parsed.ok()) old = std::move(*parsed);
    }
    const std::string text = ToJson(*inventory).dump();
    // Stored every time: when the host last reported tells a silent host from an unchanged one.
    RETURN_IF_ERROR(store_.PutInventory({std::string(host_id), now, text}));
    if (!before || before->inventory != text) {
      int standing = 0, keys = 0;
      for (const InventoryAccount& a : inventory->privileged) {
        standing += a.Standing() ? 1 : 0;
        keys += static_cast<int>(a.authorized_keys.size());
      }
      json event = {{"event", "host.inventory"},
                    {"host", host->id},
                    {"hostname", host->hostname},
                    {"tier", host->tier},
                    {"privileged", inventory->privileged.size()},
                    {"standing", standing},
                    {"authorized_keys", keys},
                    {"root_private_keys", inventory->root_private_keys.size()},
                    {"problems", inventory->problems.size()},
                    {"first", !before.has_value()}};
      if (before) {
        const std::set<std::string> priv_new = Names(*inventory, false), priv_old = Names(old, false);
        const std::set<std::string> st_new = Names(*inventory, true), st_old = Names(old, true);
        event["privileged_added"] = Minus(priv_new, priv_old);
        event["privileged_removed"] = Minus(priv_old, priv_new);
        event["standing_added"] = Minus(st_new, st_old);
        event["standing_removed"] = Minus(st_old, st_new);
      }
      RETURN_IF_ERROR(audit_.Append(std::move(event)).status());
    }
  }
  for (const HostLogin& l : logins) {
    HostLoginRow row{std::string(host_id), l.key, l.user, l.line, l.from, l.kind, l.at_us, l.pid, now};
    ASSIGN_OR_RETURN(bool inserted, store_.InsertHostLogin(row));
    if (!inserted) continue;
    RETURN_IF_ERROR(audit_.Append({{"event", "host.login"},
                                   {"host", host->id},
                                   {"hostname", host->hostname},
                                   {"tier", host->tier},
                                   {"user", l.user},
                                   {"line", l.line},
                                   {"from", l.from},
                                   {"at_us", l.at_us},
                                   {"kind", l.kind}})
                        .status());
  }
  return tx.Commit();
}

absl::StatusOr<CoverageReport> Coverage::Compute(const Identity& who, const CoverageQuery& q) {
  RETURN_IF_ERROR(policy_.RequireAuditReader(who.user, !who.host_id.empty(), "coverage"));
  CoverageReport r;
  r.now = clock_.Now();
  r.since = q.since > 0 ? std::min(q.since, r.now) : r.now - kDefaultCoverageWindow;
  ASSIGN_OR_RETURN(Transaction tx, store_.BeginRead());
  ASSIGN_OR_RETURN(std::vector<HostRow> hosts, hosts_.ListHosts());
  ASSIGN_OR_RETURN(std::vector<InventoryRow> inventories, store_.ListInventories());
  ASSIGN_OR_RETURN(std::vector<HostSessionCount> sessions,
                   recordings_.CountRecordingsByHost(r.since * int64_t{1000000000}));
  ASSIGN_OR_RETURN(std::vector<HostLoginCount> logins, store_.CountHostLogins(r.since * int64_t{1000000}));
  std::map<std::string, const InventoryRow*> inventory_of;
  for (const InventoryRow& i : inventories) inventory_of[i.host_id] = &i;
  std::map<std::string, const HostSessionCount*> sessions_of;
  for (const HostSessionCount& s : sessions) sessions_of[s.host_id] = &s;
  std::map<std::string, std::vector<const HostLoginCount*>> logins_of;
  for (const HostLoginCount& l : logins) logins_of[l.host_id].push_back(&l);

  std::map<std::pair<int, std::string>, CoverageGroup> groups;
  for (const HostRow& h : hosts) {
    if (q.tier >= 0 && h.tier != q.tier) continue;
    const std::string group = GroupOf(h);
    CoverageGroup& g = groups[{h.tier, group}];
    g.tier = h.tier;
    g.group = group;
    if (auto s = sessions_of.find(h.id); s != sessions_of.end()) {
      g.sessions_recorded += s->second->sessions;
      g.sessions_with_loss += s->second->with_loss;
    }
    if (h.kind == "gateway") {
      g.gateways++;  // no accounts of its own to inventory: its sessions count
      continue;
    }
    g.hosts++;
    for (const HostLoginCount* l : logins_of[h.id])
      (l->kind == "break_glass" ? g.break_glass_logins : g.bypass_logins) += l->logins;
    auto inv_row = inventory_of.find(h.id);
    if (inv_row == inventory_of.end()) {
      r.not_reporting.push_back({h.id, h.hostname, group, h.tier, 0});
      continue;
    }
    // A host sends its inventory at least hourly: one that has not for kStaleInventory has
    // stopped (wardend down, cut off): its last inventory no longer counts.
    if (inv_row->second->reported < r.now - kStaleInventory) {
      r.not_reporting.push_back({h.id, h.hostname, group, h.tier, inv_row->second->reported});
      continue;
    }
    absl::StatusOr<Inventory> inv =
        InventoryFromJson(json::parse(inv_row->second->inventory, nullptr, false));
    if (!inv.ok()) {
      r.problems.push_back({h.hostname, std::string(inv.status().message())});
      r.not_reporting.push_back({h.id, h.hostname, group, h.tier, inv_row->second->reported});
      continue;
    }
    g.hosts_reporting++;
    for (const std::string& p : inv->problems) r.problems.push_back({h.hostname, p});
    for (const InventoryAccount& a : inv->privileged) {
      g.privileged++;
      const bool rotated = a.password && PasswordRotated(h.hostname, a.name);
      const bool standing = (a.password && !rotated) || !a.authorized_keys.empty();
      if (!standing) {
        g.zero_standing++;
        continue;
      }
      const bool break_glass =
          std::find(inv->break_glass.begin(), inv->break_glass.end(), a.name) != inv->break_glass.end();
      r.unmanaged.push_back({h.id, h.hostname, group, h.tier, a, rotated, break_glass});
    }
  }
  for (auto& [key, g] : groups) r.groups.push_back(std::move(g));
  std::sort(r.unmanaged.begin(), r.unmanaged.end(), [](const auto& a, const auto& b) {
    return std::tie(a.tier, a.group, a.hostname, a.account.name) <
           std::tie(b.tier, b.group, b.hostname, b.account.name);
  });
  return r;
}

}  // namespace warden
