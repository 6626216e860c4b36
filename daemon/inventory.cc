#include "daemon/inventory.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
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

  Inventory Run(const std::vector<std::string>& break_glass) {
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
    for (const SudoersRule& r : inv_.sudoers) {
      const std::string where = StrCat("sudoers ", r.file, ":", r.line);
      if (r.who.size() > 1 && r.who[0] == '%') {
        const std::string g = r.who.substr(1);
        for (const std::string& m : group_members_[g]) Mark(m, where);
        auto gid = group_gid_.find(g);
        if (gid != group_gid_.end())
          for (const PasswdEntry& p : passwd_)
            if (p.gid == gid->second) Mark(p.name, where);
      } else if (r.who != "ALL") {
        Mark(r.who, where);
      }
    }
    for (auto& entry : accounts_) {
      const std::string& name = entry.first;
      InventoryAccount& a = entry.second;
      a.password = usable_password_.count(name) > 0;
      auto p = std::find_if(passwd_.begin(), passwd_.end(), [&](const PasswdEntry& e) { return e.name == name; });
      if (p == passwd_.end()) continue;  // named by sudoers or a group, but not a local account
      a.uid = p->uid;
      std::set<std::string> files;
      for (const std::string& pattern : key_files_) {
        const std::string f = ExpandKeyFile(pattern, *p);
        if (files.insert(f).second) ReadAuthorizedKeys(StrCat(root_, f), a);
      }
      if (a.authorized_keys.size() > kMaxInventoryKeys) {
        inv_.problems.push_back(StrCat(name, ": ", a.authorized_keys.size(), " authorized keys; the first ",
                                       kMaxInventoryKeys, " are reported"));
        a.authorized_keys.resize(kMaxInventoryKeys);
      }
      inv_.privileged.push_back(a);
    }
    ReadRootPrivateKeys();
    Cap();
    return std::move(inv_);
  }

 private:
  // The lines of a regular file, at most kMaxFileBytes of it. Users write their own
  // authorized_keys: one that is a FIFO, a device or a link to one must not stall or exhaust
  // wardend, so it is opened without blocking and read only if it is a regular file.
  std::vector<std::string> Lines(const std::string& path, bool must_exist) {
    std::vector<std::string> out;
    const std::string shown = path.substr(root_.size());
    const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
      // A file that is not there says nothing (no sudo installed); one that cannot be read hides
      // what it says.
      if (must_exist || errno != ENOENT) inv_.problems.push_back(StrCat(shown, ": cannot be read"));
      return out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      close(fd);
      inv_.problems.push_back(StrCat(shown, ": not a regular file, not read"));
      return out;
    }
    std::string text;
    char buf[65536];
    ssize_t n;
    while (text.size() <= kMaxFileBytes && (n = read(fd, buf, sizeof buf)) > 0) text.append(buf, n);
    close(fd);
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
    auto clip = [](std::string& s) {
      if (s.size() > kMaxInventoryText) s.resize(kMaxInventoryText);
    };
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
          std::string f = Trim(l.substr(strlen(inc)));
          if (f.empty()) continue;
          if (f[0] != '/') f = StrCat("/etc/", f);  // relative to /etc/sudoers' directory
          ReadSudoers(StrCat(root_, f), depth + 1);
          l.clear();
        }
      }
      for (const char* inc : {"@includedir ", "#includedir "}) {
        if (l.rfind(inc, 0) == 0) {
          ReadSudoersDir(StrCat(root_, Trim(l.substr(strlen(inc)))), depth + 1);
          l.clear();
        }
      }
      if (l.empty() || l[0] == '#' || l.rfind("Defaults", 0) == 0 ||
          l.find("_Alias ") != std::string::npos)
        continue;
      SudoersRule r;
      r.file = path.substr(root_.size());
      r.line = start;
      r.who = l.substr(0, l.find_first_of(" \t"));
      r.text = l;
      inv_.sudoers.push_back(r);
    }
  }

  // Files in a sudoers include directory: those sudo reads (no '.' in the name, not ending in '~').
  void ReadSudoersDir(const std::string& dir, int depth) {
    DIR* d = opendir(dir.c_str());
    if (!d) return;
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

  void ReadAuthorizedKeys(const std::string& path, InventoryAccount& a) {
    for (std::string l : Lines(path, false)) {
      l = Trim(l);
      if (l.empty() || l[0] == '#') continue;
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
  }

  void ReadRootPrivateKeys() {
    const std::string dir = StrCat(root_, "/root/.ssh");
    DIR* d = opendir(dir.c_str());
    if (!d) return;
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n.rfind("id_", 0) != 0 || (n.size() > 4 && n.substr(n.size() - 4) == ".pub")) continue;
      if (n.find("-cert") != std::string::npos) continue;
      inv_.root_private_keys.push_back(StrCat("/root/.ssh/", n));
    }
    closedir(d);
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
};

}  // namespace

Inventory CollectInventory(const std::string& root, const std::vector<std::string>& break_glass) {
  return Collector(root).Run(break_glass);
}

}  // namespace warden
