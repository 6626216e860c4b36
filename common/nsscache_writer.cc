#include "common/nsscache_writer.h"

#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "common/nsscache.h"
#include "common/strings.h"

namespace warden {
namespace {

absl::Status CheckField(std::string_view what, std::string_view v, bool allow_empty) {
  if (v.empty() && !allow_empty) return absl::InvalidArgumentError(StrCat(what, " is empty"));
  for (char c : v) {
    if (c == ':' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(StrCat(what, " \"", v, "\" contains ':' or a control character"));
    }
  }
  return absl::OkStatus();
}

class Pool {
 public:
  uint32_t Add(const std::string& s) {
    auto it = offsets_.find(s);
    if (it != offsets_.end()) return it->second;
    const uint32_t off = static_cast<uint32_t>(data_.size());
    data_.insert(data_.end(), s.begin(), s.end());
    data_.push_back('\0');
    offsets_.emplace(s, off);
    return off;
  }
  const std::string& data() const { return data_; }

 private:
  std::string data_;
  std::map<std::string, uint32_t> offsets_;
};

size_t Align8(size_t n) { return (n + 7) & ~size_t{7}; }

// A power of two at least twice the entries: probes stay short and always find an empty slot.
uint32_t Buckets(size_t entries) {
  uint32_t b = 2;
  while (b / 2 < entries) b <<= 1;
  return b;
}

void Insert(std::vector<uint32_t>& table, uint32_t hash, uint32_t index) {
  const uint32_t mask = static_cast<uint32_t>(table.size()) - 1;
  uint32_t slot = hash & mask;
  while (table[slot] != 0) slot = (slot + 1) & mask;
  table[slot] = index + 1;
}

}  // namespace

absl::StatusOr<Bytes> BuildNssCache(std::vector<NssUser> users, std::vector<NssGroup> groups,
                                    uint64_t generation) {
  if (users.size() > WARDEN_NSS_MAX_ENTRIES || groups.size() > WARDEN_NSS_MAX_ENTRIES) {
    return absl::InvalidArgumentError("too many NSS cache entries");
  }
  std::set<uint32_t> uids, gids;
  std::set<std::string> names, group_names;
  for (const auto& u : users) {
    RETURN_IF_ERROR(CheckField("user name", u.name, false));
    RETURN_IF_ERROR(CheckField("gecos", u.gecos, true));
    RETURN_IF_ERROR(CheckField("home", u.home, false));
    RETURN_IF_ERROR(CheckField("shell", u.shell, false));
    if (!names.insert(u.name).second) return absl::InvalidArgumentError("duplicate user " + u.name);
    if (!uids.insert(u.uid).second) return absl::InvalidArgumentError(StrCat("duplicate uid ", u.uid));
  }
  for (const auto& g : groups) {
    RETURN_IF_ERROR(CheckField("group name", g.name, false));
    for (const auto& m : g.members) RETURN_IF_ERROR(CheckField("group member", m, false));
    if (g.members.size() > WARDEN_NSS_MAX_MEMBERS) {
      return absl::InvalidArgumentError("group " + g.name + " has too many members");
    }
    if (!group_names.insert(g.name).second) return absl::InvalidArgumentError("duplicate group " + g.name);
    if (!gids.insert(g.gid).second) return absl::InvalidArgumentError(StrCat("duplicate gid ", g.gid));
  }
  std::sort(users.begin(), users.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::sort(groups.begin(), groups.end(), [](auto& a, auto& b) { return a.name < b.name; });

  Pool pool;
  std::vector<warden_nss_user> urecs;
  for (const auto& u : users) {
    urecs.push_back({pool.Add(u.name), pool.Add(u.gecos), pool.Add(u.home), pool.Add(u.shell),
                     u.uid, u.gid, u.expires});
  }
  std::vector<warden_nss_group> grecs;
  std::vector<uint32_t> members;
  for (const auto& g : groups) {
    grecs.push_back({pool.Add(g.name), g.gid, static_cast<uint32_t>(members.size()),
                     static_cast<uint32_t>(g.members.size()), g.expires});
    for (const auto& m : g.members) members.push_back(pool.Add(m));
  }
  const uint32_t user_buckets = Buckets(users.size()), group_buckets = Buckets(groups.size());
  std::vector<uint32_t> user_name_hash(user_buckets), uid_hash(user_buckets);
  std::vector<uint32_t> group_name_hash(group_buckets), gid_hash(group_buckets);
  for (uint32_t i = 0; i < users.size(); i++) {
    Insert(user_name_hash, warden_nss_hash_name(users[i].name.c_str()), i);
    Insert(uid_hash, warden_nss_hash_id(users[i].uid), i);
  }
  for (uint32_t i = 0; i < groups.size(); i++) {
    Insert(group_name_hash, warden_nss_hash_name(groups[i].name.c_str()), i);
    Insert(gid_hash, warden_nss_hash_id(groups[i].gid), i);
  }
  const std::string& strings = pool.data().empty() ? std::string(1, '\0') : pool.data();

  warden_nss_header h{};
  std::memcpy(h.magic, WARDEN_NSS_MAGIC, sizeof(h.magic));
  h.version = WARDEN_NSS_VERSION;
  h.header_size = sizeof(h);
  h.generation = generation;
  h.n_users = static_cast<uint32_t>(users.size());
  h.n_groups = static_cast<uint32_t>(groups.size());
  size_t off = Align8(sizeof(h));
  h.users_off = off;
  off = Align8(off + urecs.size() * sizeof(warden_nss_user));
  h.groups_off = off;
  off = Align8(off + grecs.size() * sizeof(warden_nss_group));
  h.members_off = off;
  h.n_member_refs = members.size();
  off = Align8(off + members.size() * sizeof(uint32_t));
  h.user_buckets = user_buckets;
  h.group_buckets = group_buckets;
  h.user_name_hash_off = off;
  off = Align8(off + user_buckets * sizeof(uint32_t));
  h.uid_hash_off = off;
  off = Align8(off + user_buckets * sizeof(uint32_t));
  h.group_name_hash_off = off;
  off = Align8(off + group_buckets * sizeof(uint32_t));
  h.gid_hash_off = off;
  off = Align8(off + group_buckets * sizeof(uint32_t));
  h.strings_off = off;
  h.strings_size = strings.size();
  h.file_size = off + strings.size();

  Bytes out(h.file_size, 0);
  auto put = [&out](uint64_t at, const void* p, size_t n) {
    if (n) std::memcpy(out.data() + at, p, n);
  };
  put(0, &h, sizeof(h));
  put(h.users_off, urecs.data(), urecs.size() * sizeof(warden_nss_user));
  put(h.groups_off, grecs.data(), grecs.size() * sizeof(warden_nss_group));
  put(h.members_off, members.data(), members.size() * sizeof(uint32_t));
  put(h.user_name_hash_off, user_name_hash.data(), user_buckets * sizeof(uint32_t));
  put(h.uid_hash_off, uid_hash.data(), user_buckets * sizeof(uint32_t));
  put(h.group_name_hash_off, group_name_hash.data(), group_buckets * sizeof(uint32_t));
  put(h.gid_hash_off, gid_hash.data(), group_buckets * sizeof(uint32_t));
  put(h.strings_off, strings.data(), strings.size());
  return out;
}

absl::Status WriteNssCacheFile(const std::string& path, ByteSpan image) {
  return WriteFileAtomic(path, std::string_view(reinterpret_cast<const char*>(image.data()),
                                                image.size()), 0644);
}

}  // namespace warden
