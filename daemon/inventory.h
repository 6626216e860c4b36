// Discovery: what gives standing privileged access on this host, read from its own files (under
// `root`: "/" on a host, a planted tree in tests). Privileged accounts are those with uid 0,
// members of sudo, wheel, adm or admin (as a secondary group or by their primary gid), and those
// sudoers rules name (directly or through a %group), the rules read with their @include and
// @includedir (and #include...) files. A standing credential is a usable password hash (or an
// empty one) in shadow, or a key in the account's ~/.ssh/authorized_keys[2]. Private SSH keys in
// root's home are listed too: credentials to elsewhere, at rest on this host.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace warden {

struct InventoryKey {
  std::string file;         // where it is
  std::string type;         // ssh-ed25519, ...
  std::string fingerprint;  // SHA256:... as ssh-keygen -l prints it
  std::string comment;
};

struct InventoryAccount {
  std::string name;
  uint32_t uid = 0;
  std::vector<std::string> via;  // why it is privileged: "uid 0", "group sudo", "sudoers /etc/sudoers:12"
  bool password = false;         // a usable password hash, or none needed (empty)
  std::vector<InventoryKey> authorized_keys;
  bool Standing() const { return password || !authorized_keys.empty(); }
};

struct SudoersRule {
  std::string file;
  int line = 0;
  std::string who;   // its first word: a user, %group, or an alias
  std::string text;
};

struct Inventory {
  std::vector<InventoryAccount> privileged;  // by name
  std::vector<SudoersRule> sudoers;
  std::vector<std::string> root_private_keys;  // files
  std::vector<std::string> problems;           // what could not be read, and why
};

Inventory CollectInventory(const std::string& root);

}  // namespace warden
