/* Reader of the NSS cache file; see nsscache.h. */
#include "common/nsscache.h"

#include <string.h>

static int range_ok(size_t size, uint64_t off, uint64_t count, uint64_t elem) {
  if (off > size || count > (size - off) / (elem ? elem : 1)) return 0;
  return (off % 8) == 0 || elem == 1;
}

static int string_ok(const struct warden_nss_cache* c, uint32_t off) {
  /* The pool ends in a NUL (checked in open), so a string starting inside it is terminated. */
  return off < c->header->strings_size;
}

int warden_nss_cache_open(const void* base, size_t size, struct warden_nss_cache* c) {
  const struct warden_nss_header* h = base;
  uint32_t i;
  memset(c, 0, sizeof(*c));
  if (((uintptr_t)base % 8) != 0 || size < sizeof(*h)) return -1;
  if (memcmp(h->magic, WARDEN_NSS_MAGIC, sizeof(h->magic)) != 0) return -1;
  if (h->version != WARDEN_NSS_VERSION || h->header_size != sizeof(*h) || h->file_size != size)
    return -1;
  if (h->n_users > WARDEN_NSS_MAX_ENTRIES || h->n_groups > WARDEN_NSS_MAX_ENTRIES) return -1;
  if (!range_ok(size, h->users_off, h->n_users, sizeof(struct warden_nss_user)) ||
      !range_ok(size, h->uid_index_off, h->n_users, sizeof(uint32_t)) ||
      !range_ok(size, h->groups_off, h->n_groups, sizeof(struct warden_nss_group)) ||
      !range_ok(size, h->gid_index_off, h->n_groups, sizeof(uint32_t)) ||
      !range_ok(size, h->members_off, h->n_member_refs, sizeof(uint32_t)) ||
      !range_ok(size, h->strings_off, h->strings_size, 1))
    return -1;
  if (h->strings_size == 0 || h->strings_size > UINT32_MAX) return -1;
  c->base = base;
  c->size = size;
  c->header = h;
  c->users = (const void*)((const uint8_t*)base + h->users_off);
  c->uid_index = (const void*)((const uint8_t*)base + h->uid_index_off);
  c->groups = (const void*)((const uint8_t*)base + h->groups_off);
  c->gid_index = (const void*)((const uint8_t*)base + h->gid_index_off);
  c->members = (const void*)((const uint8_t*)base + h->members_off);
  c->strings = (const char*)base + h->strings_off;
  if (c->strings[h->strings_size - 1] != '\0') return -1;
  /* Every reference must be in range, and the indexes must be sorted permutations' worth of
   * in-range entries, so that lookups can binary-search without further checks. */
  for (i = 0; i < h->n_users; i++) {
    const struct warden_nss_user* u = &c->users[i];
    if (!string_ok(c, u->name) || !string_ok(c, u->gecos) || !string_ok(c, u->home) ||
        !string_ok(c, u->shell) || c->uid_index[i] >= h->n_users)
      return -1;
    if (i > 0 && strcmp(warden_nss_string(c, c->users[i - 1].name),
                        warden_nss_string(c, u->name)) >= 0)
      return -1;
    if (i > 0 && c->users[c->uid_index[i - 1]].uid > c->users[c->uid_index[i]].uid) return -1;
  }
  for (i = 0; i < h->n_member_refs; i++) {
    if (!string_ok(c, c->members[i])) return -1;
  }
  for (i = 0; i < h->n_groups; i++) {
    const struct warden_nss_group* g = &c->groups[i];
    if (!string_ok(c, g->name) || c->gid_index[i] >= h->n_groups ||
        g->n_members > WARDEN_NSS_MAX_MEMBERS || g->first_member > h->n_member_refs ||
        g->n_members > h->n_member_refs - g->first_member)
      return -1;
    if (i > 0 && strcmp(warden_nss_string(c, c->groups[i - 1].name),
                        warden_nss_string(c, g->name)) >= 0)
      return -1;
    if (i > 0 && c->groups[c->gid_index[i - 1]].gid > c->groups[c->gid_index[i]].gid) return -1;
  }
  return 0;
}

const char* warden_nss_string(const struct warden_nss_cache* c, uint32_t off) {
  return c->strings + off;
}

const struct warden_nss_user* warden_nss_user_by_name(const struct warden_nss_cache* c,
                                                      const char* name, int64_t now) {
  uint32_t lo = 0, hi = c->header->n_users;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int cmp = strcmp(warden_nss_string(c, c->users[mid].name), name);
    if (cmp == 0) return c->users[mid].expires > now ? &c->users[mid] : NULL;
    if (cmp < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

const struct warden_nss_user* warden_nss_user_by_uid(const struct warden_nss_cache* c,
                                                     uint32_t uid, int64_t now) {
  uint32_t lo = 0, hi = c->header->n_users;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    const struct warden_nss_user* u = &c->users[c->uid_index[mid]];
    if (u->uid == uid) return u->expires > now ? u : NULL;
    if (u->uid < uid) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

const struct warden_nss_group* warden_nss_group_by_name(const struct warden_nss_cache* c,
                                                        const char* name, int64_t now) {
  uint32_t lo = 0, hi = c->header->n_groups;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int cmp = strcmp(warden_nss_string(c, c->groups[mid].name), name);
    if (cmp == 0) return c->groups[mid].expires > now ? &c->groups[mid] : NULL;
    if (cmp < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

const struct warden_nss_group* warden_nss_group_by_gid(const struct warden_nss_cache* c,
                                                       uint32_t gid, int64_t now) {
  uint32_t lo = 0, hi = c->header->n_groups;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    const struct warden_nss_group* g = &c->groups[c->gid_index[mid]];
    if (g->gid == gid) return g->expires > now ? g : NULL;
    if (g->gid < gid) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

const char* warden_nss_group_member(const struct warden_nss_cache* c,
                                    const struct warden_nss_group* g, uint32_t i) {
  return warden_nss_string(c, c->members[g->first_member + i]);
}
