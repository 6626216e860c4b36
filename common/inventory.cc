#include "common/inventory.h"

#include "common/strings.h"

#include <algorithm>

namespace warden {

using nlohmann::json;

std::string CleanText(std::string_view s, size_t max) {
  std::string out;
  out.reserve(std::min(s.size(), max));
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = 1;
    uint32_t cp = c;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07;
    else if (c >= 0x80) len = 0;  // a continuation byte or an invalid lead
    bool valid = len > 0 && i + len <= s.size();
    for (size_t k = 1; valid && k < len; k++) {
      const unsigned char n = static_cast<unsigned char>(s[i + k]);
      valid = (n & 0xc0) == 0x80;
      cp = (cp << 6) | (n & 0x3f);
    }
    // Overlong forms, surrogates and beyond U+10FFFF are not valid UTF-8.
    if (valid && ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
                  (len == 4 && (cp < 0x10000 || cp > 0x10ffff))))
      valid = false;
    if (!valid) len = 1;
    const bool control = !valid || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
    const size_t need = control ? 1 : len;
    if (out.size() + need > max) break;
    if (control) out += '?';
    else out.append(s.data() + i, len);
    i += len;
  }
  return out;
}

json ToJson(const Inventory& inv) {
  json accounts = json::array();
  for (const InventoryAccount& a : inv.privileged) {
    json keys = json::array();
    for (const InventoryKey& k : a.authorized_keys)
      keys.push_back({{"file", k.file}, {"type", k.type}, {"fingerprint", k.fingerprint},
                      {"comment", k.comment}});
    accounts.push_back({{"name", a.name}, {"uid", a.uid}, {"via", a.via},
                        {"password", a.password}, {"authorized_keys", keys}});
  }
  json sudoers = json::array();
  for (const SudoersRule& r : inv.sudoers)
    sudoers.push_back({{"file", r.file}, {"line", r.line}, {"who", r.who}, {"text", r.text}});
  return {{"privileged", accounts},       {"sudoers", sudoers},
          {"root_private_keys", inv.root_private_keys},
          {"break_glass", inv.break_glass}, {"problems", inv.problems}};
}

absl::StatusOr<Inventory> InventoryFromJson(const json& j) {
  try {
    Inventory inv;
    for (const json& a : j.at("privileged")) {
      InventoryAccount acc;
      acc.name = a.at("name").get<std::string>();
      acc.uid = a.at("uid").get<uint32_t>();
      acc.via = a.at("via").get<std::vector<std::string>>();
      acc.password = a.at("password").get<bool>();
      for (const json& k : a.at("authorized_keys"))
        acc.authorized_keys.push_back({k.at("file").get<std::string>(), k.at("type").get<std::string>(),
                                       k.at("fingerprint").get<std::string>(),
                                       k.at("comment").get<std::string>()});
      inv.privileged.push_back(std::move(acc));
    }
    for (const json& r : j.at("sudoers"))
      inv.sudoers.push_back({r.at("file").get<std::string>(), r.at("line").get<int>(),
                             r.at("who").get<std::string>(), r.at("text").get<std::string>()});
    inv.root_private_keys = j.at("root_private_keys").get<std::vector<std::string>>();
    inv.break_glass = j.value("break_glass", std::vector<std::string>{});
    inv.problems = j.at("problems").get<std::vector<std::string>>();
    return inv;
  } catch (const json::exception& e) {
    return absl::DataLossError(StrCat("stored inventory is malformed: ", e.what()));
  }
}

namespace {

absl::Status Text(std::string_view field, const std::string& s) {
  if (s.size() > kMaxInventoryText)
    return absl::InvalidArgumentError(
        StrCat("inventory: ", field, " is ", s.size(), " bytes; at most ", kMaxInventoryText));
  return absl::OkStatus();
}

absl::Status Count(std::string_view field, size_t n, size_t max) {
  if (n > max)
    return absl::InvalidArgumentError(StrCat("inventory: ", n, " ", field, "; at most ", max));
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckInventory(const Inventory& inv) {
  RETURN_IF_ERROR(Count("privileged accounts", inv.privileged.size(), kMaxInventoryAccounts));
  RETURN_IF_ERROR(Count("sudoers rules", inv.sudoers.size(), kMaxInventorySudoers));
  RETURN_IF_ERROR(Count("root private keys", inv.root_private_keys.size(), kMaxInventoryItems));
  RETURN_IF_ERROR(Count("break-glass accounts", inv.break_glass.size(), kMaxInventoryItems));
  RETURN_IF_ERROR(Count("problems", inv.problems.size(), kMaxInventoryItems));
  for (const InventoryAccount& a : inv.privileged) {
    if (a.name.empty()) return absl::InvalidArgumentError("inventory: an account without a name");
    RETURN_IF_ERROR(Text("an account name", a.name));
    RETURN_IF_ERROR(Count(StrCat("reasons for ", a.name), a.via.size(), kMaxInventoryItems));
    RETURN_IF_ERROR(Count(StrCat("keys of ", a.name), a.authorized_keys.size(), kMaxInventoryKeys));
    for (const std::string& v : a.via) RETURN_IF_ERROR(Text("a reason", v));
    for (const InventoryKey& k : a.authorized_keys)
      for (const std::string* s : {&k.file, &k.type, &k.fingerprint, &k.comment})
        RETURN_IF_ERROR(Text("a key", *s));
  }
  for (const SudoersRule& r : inv.sudoers)
    for (const std::string* s : {&r.file, &r.who, &r.text}) RETURN_IF_ERROR(Text("a sudoers rule", *s));
  for (const auto* list : {&inv.root_private_keys, &inv.break_glass, &inv.problems})
    for (const std::string& s : *list) RETURN_IF_ERROR(Text("an entry", s));
  return absl::OkStatus();
}

absl::Status CheckLogin(const HostLogin& l) {
  if (l.kind != "break_glass" && l.kind != "bypass")
    return absl::InvalidArgumentError(
        StrCat("login: kind \"", l.kind.substr(0, 32), "\" is not break_glass or bypass"));
  if (l.user.empty() || l.key.empty())
    return absl::InvalidArgumentError("login: a record without a user or key");
  for (const std::string* s : {&l.user, &l.line, &l.from, &l.key})
    if (s->size() > kMaxInventoryText)
      return absl::InvalidArgumentError(StrCat("login: a field of ", s->size(), " bytes"));
  return absl::OkStatus();
}

}  // namespace warden
