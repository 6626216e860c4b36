// Fuzzes the NSS cache reader that runs inside every process on a host: a corrupt or truncated
// cache file must never crash it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/nsscache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // mmap gives page alignment; keep the 8-byte alignment the reader requires.
  std::vector<uint64_t> aligned((size + 7) / 8);
  if (size) std::memcpy(aligned.data(), data, size);
  warden_nss_cache c;
  if (warden_nss_cache_open(aligned.data(), size, &c) != 0) return 0;
  for (uint32_t i = 0; i < c.header->n_users; i++) {
    // A corrupt hash table may make an entry unfindable; it can never yield another entry,
    // because lookups compare the name or id of what they find.
    const char* name = warden_nss_string(&c, c.users[i].name);
    const warden_nss_user* u = warden_nss_user_by_name(&c, name, 0);
    if (u != nullptr && std::strcmp(warden_nss_string(&c, u->name), name) != 0) __builtin_trap();
    (void)warden_nss_user_by_uid(&c, c.users[i].uid, 0);
    (void)strlen(warden_nss_string(&c, c.users[i].home));
  }
  for (uint32_t i = 0; i < c.header->n_groups; i++) {
    const warden_nss_group* g = &c.groups[i];
    (void)warden_nss_group_by_name(&c, warden_nss_string(&c, g->name), 0);
    (void)warden_nss_group_by_gid(&c, g->gid, 0);
    for (uint32_t m = 0; m < g->n_members; m++) (void)strlen(warden_nss_group_member(&c, g, m));
  }
  return 0;
}
