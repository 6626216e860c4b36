// Fuzzes discovery (daemon/inventory.h, daemon/login_records.h): a host tree whose passwd, group,
// shadow, sudoers, sshd_config and an account's authorized_keys are the input's NUL-separated
// parts (users write their own authorized_keys), and login records of the input's bytes. Nothing
// may crash or hang; what CollectInventory reports is always within what the controller takes
// (CheckInventory), its JSON form encodes and reads back the same, and so do its logins.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/inventory.h"
#include "daemon/inventory.h"
#include "daemon/login_records.h"

namespace {

const std::string& Tree() {
  static const std::string dir = [] {
    char t[] = "/tmp/warden-inventory-fuzz.XXXXXX";
    std::string d = mkdtemp(t);
    for (const char* sub : {"/etc", "/etc/ssh", "/etc/sudoers.d", "/home", "/home/u", "/home/u/.ssh"})
      mkdir((d + sub).c_str(), 0755);
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  for (size_t at = 0; parts.size() < 6;) {
    const size_t end = in.find('\0', at);
    parts.push_back(in.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at));
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  parts.resize(6);
  const std::string& root = Tree();
  const char* files[] = {"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/sudoers",
                         "/etc/ssh/sshd_config", "/home/u/.ssh/authorized_keys"};
  for (size_t i = 0; i < 6; i++) std::ofstream(root + files[i], std::ios::trunc) << parts[i];

  const warden::Inventory inv = warden::CollectInventory(root, {"root"});
  if (!warden::CheckInventory(inv).ok()) abort();
  // What users write is cleaned: the report encodes (an invalid UTF-8 byte would throw here).
  const std::string text = warden::ToJson(inv).dump();
  auto back = warden::InventoryFromJson(nlohmann::json::parse(text));
  if (!back.ok() || warden::ToJson(*back) != warden::ToJson(inv)) abort();

  size_t consumed = 0;
  const std::vector<warden::LoginRecord> records = warden::ParseLoginRecords(in, &consumed);
  if (consumed > size) abort();
  for (const warden::HostLogin& l : warden::ClassifyLogins(records, inv)) {
    if (l.kind != "break_glass" && l.kind != "bypass") abort();
    if (!warden::CheckLogin(l).ok()) abort();
    (void)nlohmann::json(l.user + l.line + l.from + l.key).dump();
  }
  return 0;
}
