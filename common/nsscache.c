/* Reader of the NSS cache file; see nsscache.h. */
#include "common/nsscache.h"

#include <string.h>

static int range_ok(size_t size, uint64_t off, uint64_t count, uint64_t elem) {
  if (off > size || count > (size - off) / (elem ? elem : 1)) return 0;
  return (off % 8) == 0 || elem == 1;
}

uint32_t warden_nss_hash_name(const char* name) {
  uint32_t h = 2166136261u;
  for (; *name; name++) h = (h ^ (uint8_t)*name) * 16777619u;
  return h;
}

uint32_t warden_nss_hash_id(uint32_t id) {
  uint32_t h = 2166136261u;
  int i;
  for (i = 0; i < 4; i++, id >>= 8) h = (h ^ (id & 0xff)) * 16777619u;
  return h;
}

static int buckets_ok(uint32_t buckets, uint32_t entries) {
  return buckets >= 2 && (buckets & (buckets - 1)) == 0 && buckets / 2 >= entries &&
         buckets <= 4 * WARDEN_NSS_MAX_ENTRIES;
}

static int table_ok(const uint32_t* t, uint32_t buckets, uint32_t entries) {
  uint32_t i, empty = 0;
  for (i = 0; i < buckets; i++) {
    if (t[i] > entries) return 0;
    empty += t[i] == 0;
  }
  return empty > 0; /* probes always end */
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
      !range_ok(size, h->groups_off, h->n_groups, sizeof(struct warden_nss_group)) ||
      !range_ok(size, h->members_off, h->n_member_refs, sizeof(uint32_t)) ||
      !range_ok(size, h->strings_off, h->strings_size, 1))
    return -1;
  if (h->strings_size == 0 || h->strings_size > UINT32_MAX) return -1;
  if (!buckets_ok(h->user_buckets, h->n_users) || !buckets_ok(h->group_buckets, h->n_groups) ||
      !range_ok(size, h->user_name_hash_off, h->user_buckets, sizeof(uint32_t)) ||
      !range_ok(size, h->uid_hash_off, h->user_buckets, sizeof(uint32_t)) ||
      !range_ok(size, h->group_name_hash_off, h->group_buckets, sizeof(uint32_t)) ||
      !range_ok(size, h->gid_hash_off, h->group_buckets, sizeof(uint32_t)))
    return -1;
  c->base = base;
  c->size = size;
  c->header = h;
  c->users = (const void*)((const uint8_t*)base + h->users_off);
  c->groups = (const void*)((const uint8_t*)base + h->groups_off);
  c->members = (const void*)((const uint8_t*)base + h->members_off);
  c->strings = (const char*)base + h->strings_off;
  c->user_name_hash = (const void*)((const uint8_t*)base + h->user_name_hash_off);
  c->uid_hash = (const void*)((const uint8_t*)base + h->uid_hash_off);
  c->group_name_hash = (const void*)((const uint8_t*)base + h->group_name_hash_off);
  c->gid_hash = (const void*)((const uint8_t*)base + h->gid_hash_off);
  if (c->strings[h->strings_size - 1] != '\0') return -1;
  if (!table_ok(c->user_name_hash, h->user_buckets, h->n_users) ||
      !table_ok(c->uid_hash, h->user_buckets, h->n_users) ||
      !table_ok(c->group_name_hash, h->group_buckets, h->n_groups) ||
      !table_ok(c->gid_hash, h->group_buckets, h->n_groups))
    return -1;
  /* Every reference must be in range, so that lookups need no further checks. */
  for (i = 0; i < h->n_users; i++) {
    const struct warden_nss_user* u = &c->users[i];
    if (!string_ok(c, u->name) || !string_ok(c, u->gecos) || !string_ok(c, u->home) ||
        !string_ok(c, u->shell))
      return -1;
    if (i > 0 && strcmp(warden_nss_string(c, c->users[i - 1].name),
                        warden_nss_string(c, u->name)) >= 0)
      return -1;
  }
  for (i = 0; i < h->n_member_refs; i++) {
    if (!string_ok(c, c->members[i])) return -1;
  }
  for (i = 0; i < h->n_groups; i++) {
    const struct warden_nss_group* g = &c->groups[i];
    if (!string_ok(c, g->name) ||
        g->n_members > WARDEN_NSS_MAX_MEMBERS || g->first_member > h->n_member_refs ||
        g->n_members > h->n_member_refs - g->first_member)
      return -1;
    if (i > 0 && strcmp(warden_nss_string(c, c->groups[i - 1].name),
                        warden_nss_string(c, g->name)) >= 0)
      return -1;
  }
  return 0;
}

const char* warden_nss_string(const struct warden_nss_cache* c, uint32_t off) {
  return c->strings + off;
}

/* Probes `table` from `hash`; `match` decides on entry index i. Bounded by the table size, and
 * open() proved every table has an empty slot. */
#define PROBE(table, buckets, hash, match)                        \
  do {                                                            \
    uint32_t mask_ = (buckets) - 1, slot_ = (hash) & mask_, n_;   \
    for (n_ = 0; n_ < (buckets); n_++, slot_ = (slot_ + 1) & mask_) { \
      uint32_t v_ = (table)[slot_];                               \
      if (v_ == 0) break;                                         \
      if (match(v_ - 1)) return found(v_ - 1);                    \
    }                                                             \
    return NULL;                                                  \
  } while (0)

const struct warden_nss_user* warden_nss_user_by_name(const struct warden_nss_cache* c,
                                                      const char* name, int64_t now) {
#define match(i) (strcmp(warden_nss_string(c, c->users[i].name), name) == 0)
#define found(i) (c->users[i].expires > now ? &c->users[i] : NULL)
  PROBE(c->user_name_hash, c->header->user_buckets, warden_nss_hash_name(name), match);
#undef match
#undef found
}

const struct warden_nss_user* warden_nss_user_by_uid(const struct warden_nss_cache* c,
                                                     uint32_t uid, int64_t now) {
#define match(i) (c->users[i].uid == uid)
#define found(i) (c->users[i].expires > now ? &c->users[i] : NULL)
  PROBE(c->uid_hash, c->header->user_buckets, warden_nss_hash_id(uid), match);
#undef match
#undef found
}

const struct warden_nss_group* warden_nss_group_by_name(const struct warden_nss_cache* c,
                                                        const char* name, int64_t now) {
#define match(i) (strcmp(warden_nss_string(c, c->groups[i].name), name) == 0)
#define found(i) (c->groups[i].expires > now ? &c->groups[i] : NULL)
  PROBE(c->group_name_hash, c->header->group_buckets, warden_nss_hash_name(name), match);
#undef match
#undef found
}

const struct warden_nss_group* warden_nss_group_by_gid(const struct warden_nss_cache* c,
                                                       uint32_t gid, int64_t now) {
#define match(i) (c->groups[i].gid == gid)
#define found(i) (c->groups[i].expires > now ? &c->groups[i] : NULL)
  PROBE(c->gid_hash, c->header->group_buckets, warden_nss_hash_id(gid), match);
#undef match
#undef found
}

const char* warden_nss_group_member(const struct warden_nss_cache* c,
                                    const struct warden_nss_group* g, uint32_t i) {
  return warden_nss_string(c, c->members[g->first_member + i]);
}
