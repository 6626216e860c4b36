// Discovery: what gives standing privileged access on a host, as wardend finds it
// (daemon/inventory.h) and the controller keeps it (controller/core/coverage.h), and the logins of
// privileged accounts the host's own login records (wtmp) show. One JSON form for both: the
// controller stores an inventory as ToJson writes it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace warden {

struct InventoryKey {
  std::string file;         // where it is
  std::string type;         // ssh-ed25519, ...; "unparsed": a line that is no key we know
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
  std::string who;  // its first word: a user, %group, or an alias
  std::string text;
};

struct Inventory {
  std::vector<InventoryAccount> privileged;  // by name
  std::vector<SudoersRule> sudoers;
  std::vector<std::string> root_private_keys;  // files
  std::vector<std::string> break_glass;        // the host's break-glass accounts (host.yaml)
  std::vector<std::string> problems;           // what could not be read or followed, and why
};

// The caps a report is held to (the controller refuses more; wardend truncates and says so in
// `problems`): enough for any real host, small enough that a host cannot flood the controller.
inline constexpr size_t kMaxInventoryAccounts = 4096;
inline constexpr size_t kMaxInventoryKeys = 256;  // per account
inline constexpr size_t kMaxInventorySudoers = 4096;
inline constexpr size_t kMaxInventoryItems = 256;  // root keys, break-glass accounts, problems
inline constexpr size_t kMaxInventoryText = 1024;  // any one string
inline constexpr size_t kMaxLoginsPerReport = 512;

// A login the host's login records show, of an account that did not go through Warden.
struct HostLogin {
  std::string user, line, from;
  int64_t at_us = 0;  // when, in microseconds since the epoch
  int32_t pid = 0;
  // break_glass (one of the host's break-glass accounts) or bypass (another privileged account)
  std::string kind;
  // Identifies the record on its host (time, pid, line): a report sent twice counts once.
  std::string key;
};

// `s` as valid UTF-8 without control characters (each invalid byte, C0 and C1 control, becomes
// '?'), at most `max` bytes, cut between characters. What wardend reports is read from files
// users write: it must neither break a JSON or protobuf encoder nor drive a terminal.
std::string CleanText(std::string_view s, size_t max);

nlohmann::json ToJson(const Inventory& inv);
absl::StatusOr<Inventory> InventoryFromJson(const nlohmann::json& j);

// Refuses what exceeds the caps above or is not a login kind, naming the field.
absl::Status CheckInventory(const Inventory& inv);
absl::Status CheckLogin(const HostLogin& login);

}  // namespace warden
