#include "daemon/inventory.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/files.h"
#include "common/sshkey.h"
#include "common/strings.h"
#include "daemon/sshd_config_scan.h"

namespace warden {
namespace {

constexpr const char* kPrivilegedGroups[] = {"sudo", "wheel", "adm", "admin"};
constexpr int kMaxIncludeDepth = 8;
constexpr size_t kMaxFileBytes = 1 << 20;
constexpr size_t kMaxKeyLine = 32768;  // an RSA-16384 key's line is under 3 KiB

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(s);
  while (std::getline(in, field, sep)) out.push_back(field);
  if (!s.empty() && s.back() == sep) out.push_back("");
  return out;
}

std::string Trim(std::string s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

struct PasswdEntry {
  std::string name, home;
  uint32_t uid = 0, gid = 0;
};

class Collector {
 public:
  explicit Collector(std::string root) : root_(std::move(root)) {
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
    if (root_ == "/") root_.clear();
  }

  Inventory Run(const std::vector<std::string>& break_glass, bool keys) {
    keys_ = keys;
    inv_.break_glass = break_glass;
    ReadSshdConfig();
    ReadPasswd();
    ReadGroups();
    ReadShadow();
    ReadSudoers(StrCat(root_, "/etc/sudoers"), 0);
    for (const PasswdEntry& p : passwd_)
      if (p.uid == 0) Mark(p.name, "uid 0");
    for (const char* g : kPrivilegedGroups) {
      for (const std::string& m : group_members_[g]) Mark(m, StrCat("group ", g));
      auto gid = group_gid_.find(g);
      if (gid == group_gid_.end()) continue;
      for (const PasswdEntry& p : passwd_)
        if (p.gid == gid->second) Mark(p.name, StrCat("group ", g, " (primary)"));
    }
    for (const SudoersRule& r : inv_.sudoers) MarkSudoers(r);
    for (auto& entry : accounts_) {
      const std::string& name = entry.first;
      InventoryAccount& a = entry.second;
      a.password = usable_password_.count(name) > 0;
      auto p = std::find_if(passwd_.begin(), passwd_.end(), [&](const PasswdEntry& e) { return e.name == name; });
      if (p == passwd_.end()) {
        // Named by sudoers or a group, but no account of the passwd file: one only NSS knows.
        inv_.problems.push_back(StrCat(name, " (", a.via.empty() ? "" : a.via[0],
                                       ") is no account of /etc/passwd: not inventoried"));
        continue;
      }
      a.uid = p->uid;
      if (keys_) {
        std::set<std::string> files;
        size_t total = 0;
        for (const std::string& pattern : key_files_) {
          const std::string f = ExpandKeyFile(pattern, *p);
          if (files.insert(f).second) total += ReadAuthorizedKeys(StrCat(root_, f), *p, a);
        }
        if (total > a.authorized_keys.size())
          inv_.problems.push_back(StrCat(name, ": ", total, " authorized keys; the first ",
                                         kMaxInventoryKeys, " are reported"));
      }
      inv_.privileged.push_back(a);
    }
    if (keys_) ReadRootPrivateKeys();
    Cap();
    return std::move(inv_);
  }

 private:
  // The lines of a regular file, at most kMaxFileBytes of it. Users write their own
  // authorized_keys, so those are read with the account's file system ids (`as`), as sshd reads
  // them: a link to a file the user may not read is not read. And whoever reads, the file is
  // first opened as a path only (O_PATH): a FIFO, a device or a link to one is named and never
  // opened (opening a device can have effects: a watchdog), and it cannot stall or exhaust
  // wardend.
  std::vector<std::string> Lines(const std::string& path, bool must_exist, const PasswdEntry* as = nullptr) {
    std::vector<std::string> out;
    const std::string shown = path.substr(root_.size());
    int old_gid = -1, old_uid = -1;
    if (as) {
      old_gid = setfsgid(as->gid);
      old_uid = setfsuid(as->uid);
    }
    std::string text;
    const char* problem = nullptr;
    const int at = open(path.c_str(), O_PATH | O_CLOEXEC);
    struct stat st;
    if (at < 0) {
      // A file that is not there says nothing (no sudo installed); one that cannot be read hides
      // what it says.
      if (must_exist || errno != ENOENT) problem = "cannot be read";
    } else if (fstat(at, &st) != 0 || !S_ISREG(st.st_mode)) {
      problem = "not a regular file, not read";
    } else {
      const int fd = open(StrCat("/proc/self/fd/", at).c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
      if (fd < 0) {
        problem = "cannot be read";
      } else {
        char buf[65536];
        ssize_t n;
        while (text.size() <= kMaxFileBytes && (n = read(fd, buf, sizeof buf)) > 0) text.append(buf, n);
        close(fd);
      }
    }
    if (at >= 0) close(at);
    if (as) {
      setfsuid(static_cast<uid_t>(old_uid));
      setfsgid(static_cast<gid_t>(old_gid));
    }
    if (problem) {
      inv_.problems.push_back(StrCat(shown, ": ", problem));
      return out;
    }
    if (text.size() > kMaxFileBytes) {
      text.resize(kMaxFileBytes);
      inv_.problems.push_back(StrCat(shown, ": larger than ", kMaxFileBytes, " bytes; the rest not read"));
    }
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }

  void Mark(const std::string& name, const std::string& why) {
    InventoryAccount& a = accounts_[name];
    a.name = name;
    if (std::find(a.via.begin(), a.via.end(), why) == a.via.end()) a.via.push_back(why);
  }

  // The files sshd takes keys from: AuthorizedKeysFile of the global section (the first one
  // counts, as in sshd) and of every Match block (any of them may apply to some connection).
  void ReadSshdConfig() {
    const std::string etc = StrCat(root_, "/etc");
    absl::StatusOr<std::vector<SshdDirective>> found = FindSshdDirectives(
        etc, StrCat(etc, "/ssh/sshd_config"), {"AuthorizedKeysFile", "AuthorizedKeysCommand"});
    bool global_seen = false;
    if (found.ok()) {
      for (const SshdDirective& d : *found) {
        const std::string where = StrCat(d.file.substr(root_.size()), ":", d.line);
        if (EqualsIgnoreCase(d.keyword, "AuthorizedKeysCommand")) {
          if (!EqualsIgnoreCase(Trim(d.value), "none"))
            inv_.problems.push_back(StrCat(where, ": AuthorizedKeysCommand ", d.value,
                                           ": the keys it returns are not inventoried"));
          continue;
        }
        if (d.match_line == 0) {
          if (global_seen) continue;
          global_seen = true;
        }
        std::istringstream words(d.value);
        for (std::string w; words >> w;)
          if (!EqualsIgnoreCase(w, "none")) key_files_.push_back(w);
      }
    } else if (access(StrCat(etc, "/ssh/sshd_config").c_str(), F_OK) == 0) {
      inv_.problems.push_back(StrCat("/etc/ssh/sshd_config: ", found.status().message()));
    }
    if (!global_seen) {
      key_files_.push_back(".ssh/authorized_keys");
      key_files_.push_back(".ssh/authorized_keys2");
    }
  }

  // An AuthorizedKeysFile pattern for one account: %h, %u, %U and %% expanded; a relative path is
  // relative to the home directory.
  static std::string ExpandKeyFile(const std::string& pattern, const PasswdEntry& p) {
    std::string out;
    for (size_t i = 0; i < pattern.size(); i++) {
      if (pattern[i] != '%' || i + 1 == pattern.size()) {
        out += pattern[i];
        continue;
      }
      const char c = pattern[++i];
      if (c == 'h') out += p.home;
      else if (c == 'u') out += p.name;
      else if (c == 'U') out += std::to_string(p.uid);
      else if (c == '%') out += '%';
      else out += StrCat("%", std::string(1, c));
    }
    if (out.empty() || out[0] != '/') out = StrCat(p.home, "/", out);
    return out;
  }

  static bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(),
                      [](char x, char y) { return std::tolower(x) == std::tolower(y); });
  }

  // What the controller takes (common/inventory.h): more is cut, and the cut is a problem.
  void Cap() {
    auto cap = [this](auto& list, size_t max, std::string_view what) {
      if (list.size() <= max) return;
      inv_.problems.push_back(StrCat(list.size(), " ", what, "; the first ", max, " are reported"));
      list.resize(max);
    };
    cap(inv_.privileged, kMaxInventoryAccounts, "privileged accounts");
    cap(inv_.sudoers, kMaxInventorySudoers, "sudoers rules");
    cap(inv_.root_private_keys, kMaxInventoryItems, "private keys in /root/.ssh");
    cap(inv_.break_glass, kMaxInventoryItems, "break-glass accounts");
    cap(inv_.problems, kMaxInventoryItems, "problems");
    auto clip = [](std::string& s) { s = CleanText(s, kMaxInventoryText); };
    for (InventoryAccount& a : inv_.privileged) {
      clip(a.name);
      if (a.via.size() > kMaxInventoryItems) a.via.resize(kMaxInventoryItems);
      for (std::string& v : a.via) clip(v);
      for (InventoryKey& k : a.authorized_keys)
        for (std::string* t : {&k.file, &k.type, &k.fingerprint, &k.comment}) clip(*t);
    }
    for (SudoersRule& r : inv_.sudoers)
      for (std::string* t : {&r.file, &r.who, &r.text}) clip(*t);
    for (auto* list : {&inv_.root_private_keys, &inv_.break_glass, &inv_.problems})
      for (std::string& t : *list) clip(t);
  }

  void ReadPasswd() {
    for (const std::string& l : Lines(StrCat(root_, "/etc/passwd"), true)) {
      std::vector<std::string> f = Split(l, ':');
      if (f.size() < 7 || f[0].empty() || f[0][0] == '#') continue;
      PasswdEntry e;
      e.name = f[0];
      e.uid = static_cast<uint32_t>(std::strtoul(f[2].c_str(), nullptr, 10));
      e.gid = static_cast<uint32_t>(std::strtoul(f[3].c_str(), nullptr, 10));
      e.home = f[5];
      passwd_.push_back(e);
    }
  }

  void ReadGroups() {
    for (const std::string& l : Lines(StrCat(root_, "/etc/group"), true)) {
      std::vector<std::string> f = Split(l, ':');
      if (f.size() < 4 || f[0].empty()) continue;
      group_gid_[f[0]] = static_cast<uint32_t>(std::strtoul(f[2].c_str(), nullptr, 10));
      for (const std::string& m : Split(f[3], ','))
        if (!m.empty()) group_members_[f[0]].push_back(m);
    }
  }

  void ReadShadow() {
    for (const std::string& l : Lines(StrCat(root_, "/etc/shadow"), true)) {
      std::vector<std::string> f = Split(l, ':');
      if (f.size() < 2 || f[0].empty()) continue;
      // Locked ("!..."), disabled ("*", "!!") or no password at all in shadow: not usable. An
      // empty field logs in without one: usable.
      const std::string& hash = f[1];
      if (hash.empty() || (hash[0] != '!' && hash[0] != '*')) usable_password_.insert(f[0]);
    }
  }

  void ReadSudoers(const std::string& path, int depth) {
    if (depth > kMaxIncludeDepth) {
      inv_.problems.push_back(StrCat(path.substr(root_.size()), ": includes nested too deep"));
      return;
    }
    // A file included twice (or including one it came from) is read once: no include loop, no
    // blow-up of files that include each other.
    if (!sudoers_read_.insert(std::filesystem::path(path).lexically_normal().string()).second) return;
    // Relative include paths are relative to the including file's directory (sudoers(5)).
    const std::string dir = path.substr(0, path.rfind('/'));
    auto resolve = [&](std::string f) { return f[0] == '/' ? StrCat(root_, f) : StrCat(dir, "/", f); };
    std::vector<std::string> lines = Lines(path, false);
    std::string joined;
    int start = 0;
    for (size_t i = 0; i < lines.size(); i++) {
      std::string l = lines[i];
      if (joined.empty()) start = static_cast<int>(i) + 1;
      if (!l.empty() && l.back() == '\\') {  // continued on the next line
        joined += l.substr(0, l.size() - 1) + " ";
        continue;
      }
      l = Trim(joined + l);
      joined.clear();
      for (const char* inc : {"@include ", "#include "}) {
        if (l.rfind(inc, 0) == 0) {
          const std::string f = Trim(l.substr(strlen(inc)));
          if (!f.empty()) ReadSudoers(resolve(f), depth + 1);
          l.clear();
        }
      }
      for (const char* inc : {"@includedir ", "#includedir "}) {
        if (l.rfind(inc, 0) == 0) {
          const std::string d = Trim(l.substr(strlen(inc)));
          if (!d.empty()) ReadSudoersDir(resolve(d), depth + 1);
          l.clear();
        }
      }
      // "#" starts a comment unless a uid follows it ("#1001 ALL=..." names uid 1001).
      if (l.empty() || (l[0] == '#' && !(l.size() > 1 && std::isdigit(static_cast<unsigned char>(l[1])))) ||
          l.rfind("Defaults", 0) == 0)
        continue;
      if (l.rfind("User_Alias", 0) == 0) {
        ReadUserAliases(l.substr(strlen("User_Alias")));
        continue;
      }
      if (l.find("_Alias ") != std::string::npos || l.find("_Alias\t") != std::string::npos) continue;
      SudoersRule r;
      r.file = path.substr(root_.size());
      r.line = start;
      r.who = l.substr(0, l.find_first_of(" \t"));
      r.text = l;
      inv_.sudoers.push_back(r);
    }
  }

  // "NAME = a, b, %g : NAME2 = c": the members of each alias.
  void ReadUserAliases(const std::string& spec) {
    std::istringstream defs(spec);
    for (std::string def; std::getline(defs, def, ':');) {
      const size_t eq = def.find('=');
      if (eq == std::string::npos) continue;
      std::vector<std::string>& members = user_aliases_[Trim(def.substr(0, eq))];
      for (const std::string& m : Split(def.substr(eq + 1), ','))
        if (!Trim(m).empty()) members.push_back(Trim(m));
    }
  }

  // Marks whom a rule's user list names: users, #uids, %groups (%#gids), aliases (expanded), a
  // comma-separated list of them. What cannot be resolved from the files is a problem.
  void MarkSudoers(const SudoersRule& r) {
    const std::string where = StrCat("sudoers ", r.file, ":", r.line);
    std::vector<std::string> todo = Split(r.who, ',');
    std::set<std::string> seen;
    while (!todo.empty()) {
      std::string who = Trim(todo.back());
      todo.pop_back();
      if (who.empty() || who[0] == '!' || !seen.insert(who).second || seen.size() > 4096) continue;
      if (who == "ALL") {
        inv_.problems.push_back(StrCat(where, ": a rule for ALL users: every account may use it"));
      } else if (who[0] == '%' && who.size() > 2 && who[1] == '#') {
        MarkGid(static_cast<uint32_t>(std::strtoul(who.c_str() + 2, nullptr, 10)), where);
      } else if (who[0] == '%' && who.size() > 1 && who[1] != ':') {
        const std::string g = who.substr(1);
        for (const std::string& m : group_members_[g]) Mark(m, where);
        auto gid = group_gid_.find(g);
        if (gid != group_gid_.end()) MarkGid(gid->second, where);
        else if (group_members_[g].empty())
          inv_.problems.push_back(StrCat(where, ": group ", g, " is no group of /etc/group: not inventoried"));
      } else if (who[0] == '#') {
        const uint32_t uid = static_cast<uint32_t>(std::strtoul(who.c_str() + 1, nullptr, 10));
        for (const PasswdEntry& p : passwd_)
          if (p.uid == uid) Mark(p.name, where);
      } else if (who[0] == '+' || who[0] == '%') {
        inv_.problems.push_back(StrCat(where, ": ", who, " (a netgroup or non-Unix group): not inventoried"));
      } else if (auto alias = user_aliases_.find(who); alias != user_aliases_.end()) {
        todo.insert(todo.end(), alias->second.begin(), alias->second.end());
      } else {
        Mark(who, where);
      }
    }
  }

  void MarkGid(uint32_t gid, const std::string& where) {
    for (const PasswdEntry& p : passwd_)
      if (p.gid == gid) Mark(p.name, where);
    for (const auto& [name, g] : group_gid_)
      if (g == gid)
        for (const std::string& m : group_members_[name]) Mark(m, where);
  }

  // Files in a sudoers include directory: those sudo reads (no '.' in the name, not ending in '~').
  void ReadSudoersDir(const std::string& dir, int depth) {
    DIR* d = opendir(dir.c_str());
    if (!d) {
      if (errno != ENOENT) inv_.problems.push_back(StrCat(dir.substr(root_.size()), ": cannot be read"));
      return;
    }
    std::vector<std::string> names;
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n.find('.') != std::string::npos || n.back() == '~') continue;
      names.push_back(n);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) ReadSudoers(StrCat(dir, "/", n), depth);
  }

  // The keys of one file sshd reads for `p`, read as `p`: how many lines it holds (only the
  // first kMaxInventoryKeys of an account are kept).
  size_t ReadAuthorizedKeys(const std::string& path, const PasswdEntry& p, InventoryAccount& a) {
    size_t count = 0;
    for (std::string l : Lines(path, false, &p)) {
      l = Trim(l);
      if (l.empty() || l[0] == '#') continue;
      if (++count, a.authorized_keys.size() >= kMaxInventoryKeys) continue;
      // Options (command="...", from=...) may come before the key: as sshd does, they end at the
      // first blank outside double quotes. A line longer than any key is not parsed (a user's
      // file must not cost wardend more than a pass over it), only counted.
      std::string comment;
      absl::StatusOr<PublicKey> key = absl::InvalidArgumentError("line too long");
      if (l.size() <= kMaxKeyLine) {
        key = ParseAuthorizedKey(l, &comment);
        if (!key.ok()) {
          size_t at = 0;
          for (bool quoted = false; at < l.size() && (quoted || (l[at] != ' ' && l[at] != '\t')); at++) {
            if (l[at] == '\\' && at + 1 < l.size()) at++;
            else if (l[at] == '"') quoted = !quoted;
          }
          if (at < l.size()) key = ParseAuthorizedKey(Trim(l.substr(at)), &comment);
        }
      }
      InventoryKey k;
      k.file = path.substr(root_.size());
      if (key.ok()) {
        k.type = std::string(KeyTypeName(key->type));
        k.fingerprint = Fingerprint(key->blob);
        k.comment = comment;
      } else {
        k.type = "unparsed";  // still a line sshd may accept: counted
        // Nothing of the line itself: the file may be a link to one that is not the user's.
      }
      a.authorized_keys.push_back(k);
    }
    return count;
  }

  // Private keys at rest in /root/.ssh, whatever their names: files that begin as one.
  void ReadRootPrivateKeys() {
    const std::string dir = StrCat(root_, "/root/.ssh");
    DIR* d = opendir(dir.c_str());
    if (!d) return;
    std::vector<std::string> names;
    while (dirent* e = readdir(d)) names.push_back(e->d_name);
    closedir(d);
    for (const std::string& n : names) {
      if (n == "." || n == "..") continue;
      const int at = open(StrCat(dir, "/", n).c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (at < 0) continue;
      struct stat st;
      char head[128] = {};
      ssize_t got = 0;
      if (fstat(at, &st) == 0 && S_ISREG(st.st_mode)) {
        const int fd = open(StrCat("/proc/self/fd/", at).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
          got = read(fd, head, sizeof head - 1);
          close(fd);
        }
      }
      close(at);
      if (got > 0 && std::string_view(head, got).find("PRIVATE KEY") != std::string_view::npos)
        inv_.root_private_keys.push_back(StrCat("/root/.ssh/", n));
    }
    std::sort(inv_.root_private_keys.begin(), inv_.root_private_keys.end());
  }

  std::string root_;
  Inventory inv_;
  std::vector<PasswdEntry> passwd_;
  std::map<std::string, uint32_t> group_gid_;
  std::map<std::string, std::vector<std::string>> group_members_;
  std::set<std::string> usable_password_;
  std::map<std::string, InventoryAccount> accounts_;
  std::vector<std::string> key_files_;
  std::map<std::string, std::vector<std::string>> user_aliases_;
  std::set<std::string> sudoers_read_;
  bool keys_ = true;
};

}  // namespace

Inventory CollectInventory(const std::string& root, const std::vector<std::string>& break_glass,
                           bool keys) {
  return Collector(root).Run(break_glass, keys);
}

}  // namespace warden
