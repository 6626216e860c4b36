#include "daemon/local_state.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/nsscache_writer.h"
#include "common/strings.h"
#include "daemon/site_trust.h"

namespace warden {
namespace {

using json = nlohmann::json;

// Ephemeral ids never go below this, whatever the controller says: uid 0 or a system account's
// id arriving over the wire must not alias a local account.
constexpr uint32_t kMinManagedId = 65536;

bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 32 || s[0] == '-') return false;
  for (char c : s) {
    if (!(IsLowerAlpha(c) || IsDigit(c) || c == '-' || c == '_')) return false;
  }
  return true;
}

bool CleanField(std::string_view s) {
  for (char c : s) {
    if (c == ':' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

json AccountJson(const LocalAccount& a) {
  return {{"login", a.login}, {"uid", a.uid},         {"gid", a.gid},
          {"gecos", a.gecos}, {"home", a.home},       {"shell", a.shell},
          {"sudo", a.sudo_rule}, {"grant", a.grant_id}, {"user", a.user},
          {"expires", a.expires}, {"groups", a.groups}, {"recording_input", a.recording_input},
          {"recording_strict", a.recording_strict}, {"moderators_required", a.moderators_required},
          {"moderator_pause", a.moderator_pause}, {"moderator_wait", a.moderator_wait},
          {"max_redacted_lines", a.max_redacted_lines},
          {"on_redaction_limit", OnRedactionLimitName(a.on_redaction_limit)}};
}

// A state file from before on_redaction_limit: the behaviour it had then.
OnRedactionLimit DefaultOnRedactionLimit(bool strict) {
  return strict ? OnRedactionLimit::kEnd : OnRedactionLimit::kAlert;
}

LocalAccount AccountFromJson(const json& j) {
  LocalAccount a;
  a.login = j.at("login");
  a.uid = j.at("uid");
  a.gid = j.at("gid");
  a.gecos = j.at("gecos");
  a.home = j.at("home");
  a.shell = j.at("shell");
  a.sudo_rule = j.at("sudo");
  a.grant_id = j.at("grant");
  a.user = j.at("user");
  a.expires = j.at("expires");
  a.groups = j.at("groups").get<std::vector<std::string>>();
  a.recording_input = j.value("recording_input", "redact");
  a.recording_strict = j.value("recording_strict", false);
  a.moderators_required = j.value("moderators_required", 0u);
  a.moderator_pause = j.value("moderator_pause", false);
  a.moderator_wait = j.value("moderator_wait", int64_t{0});
  a.max_redacted_lines = j.value("max_redacted_lines", 3u);
  a.on_redaction_limit = ParseOnRedactionLimit(j.value("on_redaction_limit", ""))
                             .value_or(DefaultOnRedactionLimit(a.recording_strict));
  return a;
}

absl::Status RunVisudo(const HostConfig& c, const std::string& path) {
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    execl(c.visudo.c_str(), c.visudo.c_str(), "-c", "-q", "-f", path.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InvalidArgumentError(
        StrCat("visudo -cf rejected the new sudoers drop-in (exit ", WEXITSTATUS(status),
               "); the previous ", c.sudoers_file, " stays in place"));
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<OnRedactionLimit> ParseOnRedactionLimit(std::string_view word) {
  if (word == "alert") return OnRedactionLimit::kAlert;
  if (word == "hold") return OnRedactionLimit::kHold;
  if (word == "end") return OnRedactionLimit::kEnd;
  return std::nullopt;
}

const char* OnRedactionLimitName(OnRedactionLimit action) {
  switch (action) {
    case OnRedactionLimit::kAlert:
      return "alert";
    case OnRedactionLimit::kHold:
      return "hold";
    case OnRedactionLimit::kEnd:
      return "end";
  }
  return "alert";
}

const LocalAccount* LocalState::FindAccount(std::string_view login) const {
  for (const auto& a : accounts) {
    if (a.login == login) return &a;
  }
  return nullptr;
}

const EndedAccount* LocalState::FindEnded(std::string_view login) const {
  for (const auto& e : ended) {
    if (e.account.login == login) return &e;
  }
  return nullptr;
}

std::optional<int64_t> LocalState::NextExpiry() const {
  std::optional<int64_t> out;
  for (const auto& a : accounts) {
    if (!out || a.expires < *out) out = a.expires;
  }
  return out;
}

absl::StatusOr<LocalState> LoadLocalState(const HostConfig& c) {
  const std::string path = c.StatePath("state.json");
  LocalState s;
  auto text = ReadFile(path);
  if (!text.ok()) return s;  // first start
  try {
    json j = json::parse(*text);
    s.revision = j.at("revision");
    s.generation = j.at("generation");
    for (const auto& a : j.at("accounts")) s.accounts.push_back(AccountFromJson(a));
    for (const auto& g : j.at("groups")) {
      s.groups.push_back({g.at("name"), g.at("gid"), g.at("members").get<std::vector<std::string>>()});
    }
    for (const auto& e : j.at("ended")) {
      EndedAccount x;
      x.account = AccountFromJson(e.at("account"));
      x.reason = e.at("reason");
      x.ended = e.at("ended");
      x.cleaned = e.at("cleaned");
      x.processes_killed = e.at("processes_killed");
      x.home_removed = e.at("home_removed");
      x.reported = e.at("reported");
      s.ended.push_back(std::move(x));
    }
  } catch (const json::exception& ex) {
    return absl::DataLossError(StrCat(path, " is corrupt (", ex.what(),
                                      "); move it away and restart wardend to resync"));
  }
  return s;
}

absl::Status SaveLocalState(const HostConfig& c, const LocalState& s) {
  json j = {{"revision", s.revision}, {"generation", s.generation}};
  j["accounts"] = json::array();
  for (const auto& a : s.accounts) j["accounts"].push_back(AccountJson(a));
  j["groups"] = json::array();
  for (const auto& g : s.groups) {
    j["groups"].push_back({{"name", g.name}, {"gid", g.gid}, {"members", g.members}});
  }
  j["ended"] = json::array();
  for (const auto& e : s.ended) {
    j["ended"].push_back({{"account", AccountJson(e.account)}, {"reason", e.reason},
                          {"ended", e.ended}, {"cleaned", e.cleaned},
                          {"processes_killed", e.processes_killed},
                          {"home_removed", e.home_removed}, {"reported", e.reported}});
  }
  return WriteFileAtomic(c.StatePath("state.json"), j.dump(1) + "\n", 0600);
}

absl::Status ApplyHostState(const HostConfig& c, const HostState& in, int64_t now,
                            LocalState& s) {
  std::vector<LocalAccount> accounts;
  for (const auto& a : in.accounts) {
    if (!ValidName(a.login)) {
      return absl::InvalidArgumentError(StrCat("controller sent an invalid login \"", a.login, "\""));
    }
    if (a.uid < kMinManagedId || a.gid != a.uid) {
      return absl::InvalidArgumentError(StrCat("controller sent uid ", a.uid, " for ", a.login,
                                               "; ephemeral ids start at ", kMinManagedId));
    }
    if (!CleanField(a.gecos) || !CleanField(a.shell) || a.shell.empty() ||
        a.shell[0] != '/' || a.sudo_rule.find_first_of("\n\r") != std::string::npos ||
        (!a.recording_input.empty() && a.recording_input != "redact" &&
         a.recording_input != "full" && a.recording_input != "all" &&
         a.recording_input != "off") ||
        (!a.recording_mode.empty() && a.recording_mode != "best_effort" &&
         a.recording_mode != "strict") ||
        a.moderators_required > 16 ||
        (a.moderators_required > 0 &&
         ((a.moderator_on_leave != "terminate" && a.moderator_on_leave != "pause") ||
          a.moderator_wait_seconds < 1)) ||
        (!a.on_redaction_limit.empty() && !ParseOnRedactionLimit(a.on_redaction_limit)) ||
        (a.on_redaction_limit == "hold" && a.moderator_wait_seconds < 1)) {
      return absl::InvalidArgumentError(StrCat("controller sent a malformed account ", a.login));
    }
    // A lease that has ended here never comes back, whatever a lagging controller says.
    if (a.expires_unix <= now || s.FindEnded(a.login)) continue;
    LocalAccount l;
    l.login = a.login;
    l.uid = a.uid;
    l.gid = a.gid;
    l.gecos = a.gecos;
    // The home is always home_root/login: a path from the wire is never created or removed.
    l.home = StrCat(c.home_root, "/", a.login);
    l.shell = a.shell;
    l.sudo_rule = a.sudo_rule;
    if (!a.recording_input.empty()) l.recording_input = a.recording_input;
    l.recording_strict = a.recording_mode == "strict";
    if (a.max_redacted_lines) l.max_redacted_lines = *a.max_redacted_lines;
    l.on_redaction_limit = ParseOnRedactionLimit(a.on_redaction_limit)
                               .value_or(DefaultOnRedactionLimit(l.recording_strict));
    l.moderators_required = a.moderators_required;
    l.moderator_pause = a.moderator_on_leave == "pause";
    l.moderator_wait = a.moderator_wait_seconds;
    l.grant_id = a.grant_id;
    l.user = a.user;
    l.expires = a.expires_unix;
    l.groups = a.groups;
    accounts.push_back(std::move(l));
  }
  std::vector<LocalGroup> groups;
  for (const auto& g : in.groups) {
    if (!ValidName(g.name) || g.gid < kMinManagedId) {
      return absl::InvalidArgumentError(StrCat("controller sent a malformed group \"", g.name, "\""));
    }
    groups.push_back({g.name, g.gid, g.members});
  }
  std::string ca_keys;
  for (const auto& k : in.trusted_user_ca_keys) {
    if (k.find('\n') != std::string::npos) {
      return absl::InvalidArgumentError("controller sent a malformed trusted CA key");
    }
    ca_keys += k + "\n";
  }
  RETURN_IF_ERROR(WriteControllerTrust(c, ca_keys, in.krl));

  for (const auto& old : s.accounts) {
    bool still = false;
    for (const auto& a : accounts) still = still || a.login == old.login;
    if (!still) {
      EndedAccount e;
      e.account = old;
      e.reason = old.expires <= now ? "expired" : "revoked";
      e.ended = now;
      s.ended.push_back(std::move(e));
    }
  }
  s.accounts = std::move(accounts);
  s.groups = std::move(groups);
  s.revision = in.revision;
  return absl::OkStatus();
}

int ExpireAccounts(LocalState& s, int64_t now) {
  int n = 0;
  for (auto it = s.accounts.begin(); it != s.accounts.end();) {
    if (it->expires > now) {
      ++it;
      continue;
    }
    EndedAccount e;
    e.account = std::move(*it);
    e.reason = "expired";
    e.ended = now;
    s.ended.push_back(std::move(e));
    it = s.accounts.erase(it);
    n++;
  }
  return n;
}

std::string PrincipalsDir(const HostConfig& c) { return c.StatePath("principals"); }

absl::Status SyncPrincipalFiles(const HostConfig& c, const std::vector<std::string>& live_logins) {
  const std::string dir = PrincipalsDir(c);
  // sshd opens the file as the logging-in user, through directories it checks are root's.
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::UnavailableError(StrCat("cannot create ", dir, ": ", strerror(errno)));
  }
  const std::set<std::string> live(live_logins.begin(), live_logins.end());
  std::vector<std::string> problems;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (live.count(name)) continue;
    if (unlink(it->path().c_str()) != 0 && errno != ENOENT) {
      problems.push_back(StrCat("cannot remove ", it->path().string(), ": ", strerror(errno)));
    }
  }
  if (ec) problems.push_back(StrCat("cannot list ", dir, ": ", ec.message()));
  for (const std::string& login : live) {
    const std::string path = StrCat(dir, "/", login);
    auto old = ReadFile(path);
    if (old.ok() && *old == login + "\n") continue;
    if (absl::Status st = WriteFileAtomic(path, login + "\n", 0644); !st.ok()) {
      problems.push_back(std::string(st.message()));
    }
  }
  if (!problems.empty()) {
    return absl::UnavailableError(StrCat("sshd's principals files: ", StrJoin(problems, "; ")));
  }
  return absl::OkStatus();
}

std::string SudoersText(const std::vector<LocalAccount>& accounts) {
  std::string out =
      "# Written by wardend: the sudo rules of Warden's ephemeral accounts. Do not edit;\n"
      "# every change is overwritten and each rule leaves with its lease.\n";
  for (const auto& a : accounts) {
    if (a.sudo_rule.empty()) continue;
    out += StrCat("# grant ", a.grant_id, " of ", a.user, ", lease ends at ", a.expires, "\n",
                  a.login, " ", a.sudo_rule, "\n");
  }
  return out;
}

namespace {
absl::Status WriteSudoers(const HostConfig& c, const std::vector<LocalAccount>& live) {
  const std::string text = SudoersText(live);
  auto old = ReadFile(c.sudoers_file);
  if (old.ok() && *old == text) return absl::OkStatus();
  // sudo ignores files in sudoers.d whose names contain a '.', so the candidate is never live.
  const size_t slash = c.sudoers_file.rfind('/');
  const std::string candidate = c.sudoers_file.substr(0, slash + 1) + ".warden-candidate";
  RETURN_IF_ERROR(WriteFileAtomic(candidate, text, 0440));
  absl::Status valid = RunVisudo(c, candidate);
  if (!valid.ok()) {
    unlink(candidate.c_str());
    return valid;
  }
  if (rename(candidate.c_str(), c.sudoers_file.c_str()) != 0) {
    const int e = errno;
    unlink(candidate.c_str());
    return absl::UnavailableError(StrCat("cannot replace ", c.sudoers_file, ": ", strerror(e)));
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status WriteAccountFiles(const HostConfig& c, const LocalState& s, int64_t now) {
  std::vector<NssUser> users;
  std::vector<NssGroup> groups;
  for (const auto& a : s.accounts) {
    if (a.expires <= now) continue;
    users.push_back({a.login, a.gecos, a.home, a.shell, a.uid, a.gid, a.expires});
    groups.push_back({a.login, a.gid, {}, a.expires});
  }
  for (const auto& g : s.groups) {
    NssGroup ng{g.name, g.gid, {}, 0};
    for (const auto& m : g.members) {
      const LocalAccount* a = s.FindAccount(m);
      if (!a || a->expires <= now) continue;
      ng.members.push_back(m);
      ng.expires = std::max(ng.expires, a->expires);
    }
    if (!ng.members.empty()) groups.push_back(std::move(ng));
  }
  ASSIGN_OR_RETURN(Bytes image, BuildNssCache(std::move(users), std::move(groups), s.generation));
  RETURN_IF_ERROR(WriteNssCacheFile(c.nss_cache, image));

  std::vector<LocalAccount> live;
  std::vector<std::string> logins;
  for (const auto& a : s.accounts) {
    if (a.expires <= now) continue;
    live.push_back(a);
    logins.push_back(a.login);
  }
  // A failure here must not keep an ended account's sudo rule: the sudoers file is written
  // either way, and the first error is returned.
  const absl::Status principals = SyncPrincipalFiles(c, logins);
  const absl::Status sudoers = WriteSudoers(c, live);
  return principals.ok() ? sudoers : principals;
}


}  // namespace warden
