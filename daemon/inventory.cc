#include "daemon/inventory.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/files.h"
#include "common/sshkey.h"
#include "common/strings.h"

namespace warden {
namespace {

constexpr const char* kPrivilegedGroups[] = {"sudo", "wheel", "adm", "admin"};
constexpr int kMaxIncludeDepth = 8;

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

  Inventory Run() {
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
    for (auto& [name, a] : accounts_) {
      a.password = usable_password_.count(name) > 0;
      auto p = std::find_if(passwd_.begin(), passwd_.end(), [&](const PasswdEntry& e) { return e.name == name; });
      if (p == passwd_.end()) continue;  // named by sudoers or a group, but not a local account
      a.uid = p->uid;
      for (const char* f : {"/.ssh/authorized_keys", "/.ssh/authorized_keys2"})
        ReadAuthorizedKeys(StrCat(root_, p->home, f), a);
      inv_.privileged.push_back(a);
    }
    ReadRootPrivateKeys();
    return std::move(inv_);
  }

 private:
  std::vector<std::string> Lines(const std::string& path, bool must_exist) {
    std::vector<std::string> out;
    std::ifstream in(path);
    if (!in) {
      if (must_exist) inv_.problems.push_back(StrCat(path.substr(root_.size()), ": cannot be read"));
      return out;
    }
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }

  void Mark(const std::string& name, const std::string& why) {
    InventoryAccount& a = accounts_[name];
    a.name = name;
    if (std::find(a.via.begin(), a.via.end(), why) == a.via.end()) a.via.push_back(why);
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
    std::vector<std::string> lines = Lines(path, depth == 0);
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
      // Options (command="...", from=...) may come before the key: the key starts at the first
      // word that parses as one.
      std::string comment;
      absl::StatusOr<PublicKey> key = ParseAuthorizedKey(l, &comment);
      for (size_t at = l.find(' '); !key.ok() && at != std::string::npos; at = l.find(' ', at + 1))
        key = ParseAuthorizedKey(Trim(l.substr(at + 1)), &comment);
      InventoryKey k;
      k.file = path.substr(root_.size());
      if (key.ok()) {
        k.type = std::string(KeyTypeName(key->type));
        k.fingerprint = Fingerprint(key->blob);
        k.comment = comment;
      } else {
        k.type = "unparsed";  // still a line sshd may accept: counted
        k.comment = std::string(key.status().message());
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
};

}  // namespace

Inventory CollectInventory(const std::string& root) { return Collector(root).Run(); }

}  // namespace warden
