// coverage: the two KPIs of discovery per tier and host group, and the unmanaged accounts.
#include <ctime>
#include <iomanip>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands/commands.h"
#include "common/duration.h"
#include "common/strings.h"
#include "warden/v1/audit.grpc.pb.h"

namespace pb = ::warden::v1;
using nlohmann::json;

namespace warden::cli {
namespace {

// "3/4 75%" (or "-" when there is nothing to count).
std::string Share(uint64_t part, uint64_t whole) {
  if (whole == 0) return "-";
  std::ostringstream s;
  s << part << "/" << whole << " " << (part * 1000 / whole + 5) / 10 << "%";
  return s.str();
}

// Control characters (C0 but newline, DEL, C1 as UTF-8) as '?'.
std::string Printable(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(s[i + 1]) <= 0x9f) {
      out += '?';
      i++;
    } else if ((c < 0x20 && c != '\n') || c == 0x7f) {
      out += '?';
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

json KeysJson(const pb::InventoryAccount& a) {
  json keys = json::array();
  for (const pb::InventoryKey& k : a.authorized_keys())
    keys.push_back({{"file", k.file()}, {"type", k.type()}, {"fingerprint", k.fingerprint()},
                    {"comment", k.comment()}});
  return keys;
}

std::string Credentials(const pb::UnmanagedAccount& u) {
  std::vector<std::string> what;
  if (u.account().password() && !u.password_rotated()) what.push_back("password");
  for (const pb::InventoryKey& k : u.account().authorized_keys())
    what.push_back(StrCat("key ", k.fingerprint().empty() ? k.type() : k.fingerprint(),
                          k.comment().empty() ? "" : StrCat(" (", k.comment(), ")"), " in ", k.file()));
  return StrJoin(what, ", ");
}

absl::Status Coverage(Context& ctx, int tier, const std::string& since) {
  pb::CoverageRequest req;
  if (tier >= 0) req.set_tier(tier);
  if (!since.empty()) {
    ASSIGN_OR_RETURN(int64_t ago, ParseDuration(since));
    req.set_since_unix(static_cast<int64_t>(time(nullptr)) - ago);
  }
  RETURN_IF_ERROR(ctx.Open());
  pb::CoverageResponse r;
  auto call = CallContext();
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::AuditService>()->GetCoverage(call.get(), req, &r), ctx.profile()));
  if (ctx.out().json()) {
    json groups = json::array(), unmanaged = json::array(), silent = json::array(),
         problems = json::array();
    for (const pb::CoverageGroup& g : r.groups()) {
      const uint64_t all_sessions = g.sessions_recorded() + g.bypass_logins() + g.break_glass_logins();
      groups.push_back({{"tier", g.tier()},
                        {"group", g.group()},
                        {"hosts", g.hosts()},
                        {"gateways", g.gateways()},
                        {"hosts_reporting", g.hosts_reporting()},
                        {"privileged_accounts", g.privileged()},
                        {"zero_standing_accounts", g.zero_standing()},
                        {"accounts_kpi", g.privileged() ? json(double(g.zero_standing()) / g.privileged()) : json(nullptr)},
                        {"sessions_recorded", g.sessions_recorded()},
                        {"sessions_with_loss", g.sessions_with_loss()},
                        {"bypass_logins", g.bypass_logins()},
                        {"break_glass_logins", g.break_glass_logins()},
                        {"sessions_kpi", all_sessions ? json(double(g.sessions_recorded()) / all_sessions) : json(nullptr)}});
    }
    for (const pb::UnmanagedAccount& u : r.unmanaged())
      unmanaged.push_back({{"tier", u.tier()},
                           {"group", u.group()},
                           {"host", u.hostname()},
                           {"host_id", u.host_id()},
                           {"account", u.account().name()},
                           {"uid", u.account().uid()},
                           {"via", u.account().via()},
                           {"password", u.account().password() && !u.password_rotated()},
                           {"password_rotated", u.password_rotated()},
                           {"authorized_keys", KeysJson(u.account())},
                           {"break_glass", u.break_glass()}});
    for (const pb::SilentHost& h : r.not_reporting())
      silent.push_back({{"tier", h.tier()}, {"group", h.group()}, {"host", h.hostname()}, {"host_id", h.host_id()},
                        {"last_report", h.last_report_unix()}});
    for (const pb::HostProblem& p : r.problems())
      problems.push_back({{"host", p.hostname()}, {"problem", p.problem()}});
    ctx.out().Json(json{{"since", r.since_unix()}, {"now", r.now_unix()}, {"groups", groups},
                        {"unmanaged", unmanaged}, {"not_reporting", silent}, {"problems", problems}});
    return absl::OkStatus();
  }
  // Hosts write what is printed below (key comments, file names): control characters are shown
  // as '?' so that none can drive the terminal (hide a line, say).
  std::ostringstream out;
  const time_t since_t = r.since_unix();
  char day[32];
  strftime(day, sizeof day, "%Y-%m-%d %H:%M", gmtime(&since_t));
  out << "Coverage: privileged accounts with zero standing credential, and privileged sessions\n"
      << "that went through Warden and were recorded (sessions since " << day << " UTC).\n\n";
  if (r.groups_size() == 0) {
    out << "No enrolled hosts" << (tier >= 0 ? StrCat(" of tier ", tier) : "") << ".\n";
    ctx.out().text() << Printable(out.str());
    return absl::OkStatus();
  }
  out << std::left << std::setw(5) << "TIER" << std::setw(14) << "GROUP" << std::setw(10) << "HOSTS"
      << std::setw(18) << "ZERO-STANDING" << std::setw(20) << "SESSIONS-RECORDED"
      << "OUTSIDE WARDEN\n";
  for (const pb::CoverageGroup& g : r.groups()) {
    const uint64_t outside = g.bypass_logins() + g.break_glass_logins();
    std::string hosts = StrCat(g.hosts_reporting(), "/", g.hosts());
    if (g.gateways()) hosts += StrCat("+", g.gateways(), "gw");
    out << std::left << std::setw(5) << g.tier() << std::setw(14)
        << (g.group().empty() ? "-" : g.group()) << std::setw(10) << hosts << std::setw(18)
        << Share(g.zero_standing(), g.privileged()) << std::setw(20)
        << Share(g.sessions_recorded(), g.sessions_recorded() + outside)
        << StrCat(g.bypass_logins(), " bypass, ", g.break_glass_logins(), " break-glass")
        << (g.sessions_with_loss() ? StrCat("; ", g.sessions_with_loss(), " recorded with loss") : "")
        << "\n";
  }
  out << "(HOSTS: reporting an inventory / enrolled)\n";
  if (r.unmanaged_size() > 0) {
    out << "\nUnmanaged privileged accounts (a standing credential Warden does not hold):\n";
    for (const pb::UnmanagedAccount& u : r.unmanaged())
      out << "  tier " << u.tier() << " " << (u.group().empty() ? "-" : u.group()) << " "
          << u.hostname() << " " << u.account().name() << (u.break_glass() ? " [break-glass]" : "")
          << " (" << StrJoin(u.account().via(), "; ") << "): " << Credentials(u) << "\n";
  } else {
    out << "\nNo unmanaged privileged accounts.\n";
  }
  if (r.not_reporting_size() > 0) {
    out << "\nHosts without a recent inventory (not covered until they report):\n";
    for (const pb::SilentHost& h : r.not_reporting()) {
      out << "  tier " << h.tier() << " " << (h.group().empty() ? "-" : h.group()) << " "
          << h.hostname() << " (" << h.host_id() << "): ";
      if (h.last_report_unix() == 0) {
        out << "never reported\n";
      } else {
        const time_t at = h.last_report_unix();
        char when[32];
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", gmtime(&at));
        out << "last report " << when << " UTC\n";
      }
    }
  }
  if (r.problems_size() > 0) {
    out << "\nWhat hosts could not read:\n";
    for (const pb::HostProblem& p : r.problems()) out << "  " << p.hostname() << ": " << p.problem() << "\n";
  }
  ctx.out().text() << Printable(out.str());
  return absl::OkStatus();
}

}  // namespace

void AddCoverageCommands(CLI::App& app, Context& ctx) {
  struct Flags {
    int tier = -1;
    std::string since;
  };
  auto f = std::make_shared<Flags>();
  auto* coverage = app.add_subcommand(
      "coverage", "discovery KPIs per tier and host group, and the unmanaged privileged accounts");
  coverage->add_option("--tier", f->tier, "this tier only (default: every tier)")
      ->check(CLI::Range(0, 9));
  coverage->add_option("--since", f->since, "count sessions of the last DURATION (default 30d)");
  coverage->callback([&ctx, f] { ctx.status() = Coverage(ctx, f->tier, f->since); });
}

}  // namespace warden::cli
