/* The NSS cache file: ephemeral accounts and groups written by wardend, read (memory-mapped) by
 * libnss_warden.so.2 inside every process that resolves users. Plain C: the reader is linked into
 * the NSS module, which may not depend on the C++ runtime.
 *
 * Layout (little-endian, offsets from the start of the file):
 *   header      struct warden_nss_header
 *   users       n_users  x struct warden_nss_user,  sorted by name (bytewise), unique
 *   groups      n_groups x struct warden_nss_group, sorted by name, unique
 *   members     uint32 string offsets, the members of every group back to back
 *   hash tables four open-addressing tables (user name, uid, group name, gid), each of
 *               n_*_buckets uint32 slots (a power of two, at least twice the entries) holding
 *               entry index + 1, or 0 for empty; probed linearly from hash & (buckets - 1)
 *   strings     NUL-terminated strings; every string reference is an offset into this pool
 *
 * The reader trusts nothing: every offset, length and count is checked against the file size
 * before use, strings must be NUL-terminated inside the pool, and entries whose expiry has passed
 * are never returned, whether or not wardend is alive to remove them. */
#ifndef WARDEN_COMMON_NSSCACHE_H_
#define WARDEN_COMMON_NSSCACHE_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WARDEN_NSS_MAGIC "WRDNSS1"
#define WARDEN_NSS_VERSION 2u
#define WARDEN_NSS_DEFAULT_PATH "/var/lib/warden/nss.cache"
/* Far above any fleet's ephemeral accounts; bounds what a corrupt header can make us touch. */
#define WARDEN_NSS_MAX_ENTRIES 1000000u
#define WARDEN_NSS_MAX_MEMBERS 65536u

struct warden_nss_header {
  char magic[8];
  uint32_t version;
  uint32_t header_size;
  uint64_t generation; /* increases with every write */
  uint64_t file_size;
  uint32_t n_users;
  uint32_t n_groups;
  uint64_t users_off;
  uint64_t groups_off;
  uint64_t members_off;
  uint64_t n_member_refs;
  uint64_t strings_off;
  uint64_t strings_size;
  uint32_t user_buckets;
  uint32_t group_buckets;
  uint64_t user_name_hash_off;
  uint64_t uid_hash_off;
  uint64_t group_name_hash_off;
  uint64_t gid_hash_off;
};

/* FNV-1a, the hash of names in the tables; ids hash as their 4 little-endian bytes. */
uint32_t warden_nss_hash_name(const char* name);
uint32_t warden_nss_hash_id(uint32_t id);

struct warden_nss_user {
  uint32_t name;  /* string offsets */
  uint32_t gecos;
  uint32_t home;
  uint32_t shell;
  uint32_t uid;
  uint32_t gid;
  int64_t expires; /* unix seconds; the entry does not exist from then on */
};

struct warden_nss_group {
  uint32_t name;
  uint32_t gid;
  uint32_t first_member; /* index into the members array */
  uint32_t n_members;
  int64_t expires;
};

/* A validated, read-only view of a cache image (mapped file or buffer). */
struct warden_nss_cache {
  const uint8_t* base;
  size_t size;
  const struct warden_nss_header* header;
  const struct warden_nss_user* users;
  const struct warden_nss_group* groups;
  const uint32_t* members;
  const char* strings;
  const uint32_t* user_name_hash;
  const uint32_t* uid_hash;
  const uint32_t* group_name_hash;
  const uint32_t* gid_hash;
};

/* Validates `size` bytes at `base` (which must be 8-byte aligned) and fills `cache`.
 * Returns 0, or -1 if the image is malformed in any way. */
int warden_nss_cache_open(const void* base, size_t size, struct warden_nss_cache* cache);

/* String at pool offset `off` (validated by open). */
const char* warden_nss_string(const struct warden_nss_cache* cache, uint32_t off);

/* Lookups return NULL when absent or expired at `now`. */
const struct warden_nss_user* warden_nss_user_by_name(const struct warden_nss_cache* cache,
                                                      const char* name, int64_t now);
const struct warden_nss_user* warden_nss_user_by_uid(const struct warden_nss_cache* cache,
                                                     uint32_t uid, int64_t now);
const struct warden_nss_group* warden_nss_group_by_name(const struct warden_nss_cache* cache,
                                                        const char* name, int64_t now);
const struct warden_nss_group* warden_nss_group_by_gid(const struct warden_nss_cache* cache,
                                                       uint32_t gid, int64_t now);
/* Member `i` (< n_members) of `group`. */
const char* warden_nss_group_member(const struct warden_nss_cache* cache,
                                    const struct warden_nss_group* group, uint32_t i);

#ifdef __cplusplus
}
#endif

#endif /* WARDEN_COMMON_NSSCACHE_H_ */
