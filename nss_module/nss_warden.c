/* libnss_warden.so.2: passwd and group entries for Warden's ephemeral accounts, answered from the
 * memory-mapped cache file that wardend writes (common/nsscache.h).
 *
 * Loaded into every process that resolves users, so: C only, no threads of its own, no network,
 * no global constructors, exports limited by nss_warden.map. Semantics follow glibc's NSS
 * contract: every returned pointer points into the caller's buffer; a buffer that is too small
 * gives NSS_STATUS_TRYAGAIN with *errnop = ERANGE; an absent or unreadable cache gives
 * NSS_STATUS_UNAVAIL (so "files" still answers and break-glass accounts keep working); a name
 * not in the cache gives NSS_STATUS_NOTFOUND; errno is left untouched on success. */
#define _GNU_SOURCE /* secure_getenv */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/nsscache.h"

#define EXPORT __attribute__((visibility("default")))

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void* map_base;
static size_t map_size;
static struct stat map_stat;
static struct warden_nss_cache cache;
static int cache_ok;
static uint32_t pw_next, gr_next; /* enumeration cursors */
static struct timespec checked;   /* when the file was last stat()ed (CLOCK_MONOTONIC_COARSE) */

/* How often a lookup looks for a replaced cache file. Expiry does not depend on it: every
 * lookup compares entry expiry with the current time. */
#define RECHECK_NS 100000000L

static const char* cache_path(void) {
  /* Tests point at their own file; secure_getenv ignores this in setuid programs. */
  const char* p = secure_getenv("WARDEN_NSS_CACHE");
  return p && *p ? p : WARDEN_NSS_DEFAULT_PATH;
}

static void unmap(void) {
  if (map_base) munmap(map_base, map_size);
  map_base = NULL;
  map_size = 0;
  cache_ok = 0;
  memset(&map_stat, 0, sizeof(map_stat));
}

/* REQUIRES: lock held. Maps the cache again if the file was replaced (checked at most every
 * RECHECK_NS). Returns 0 when a valid cache is mapped. */
static int refresh(void) {
  struct stat st;
  struct timespec t;
  int fd;
  void* base;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
  if (cache_ok && (t.tv_sec - checked.tv_sec) * 1000000000L + (t.tv_nsec - checked.tv_nsec) < RECHECK_NS)
    return 0;
  checked = t;
  if (stat(cache_path(), &st) != 0) {
    unmap();
    return -1;
  }
  if (cache_ok && st.st_ino == map_stat.st_ino && st.st_dev == map_stat.st_dev &&
      st.st_size == map_stat.st_size && st.st_mtim.tv_sec == map_stat.st_mtim.tv_sec &&
      st.st_mtim.tv_nsec == map_stat.st_mtim.tv_nsec)
    return 0;
  unmap();
  fd = open(cache_path(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  if (fstat(fd, &st) != 0 || st.st_size <= 0) {
    close(fd);
    return -1;
  }
  base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (base == MAP_FAILED) return -1;
  map_base = base;
  map_size = (size_t)st.st_size;
  map_stat = st;
  if (warden_nss_cache_open(base, map_size, &cache) != 0) {
    unmap();
    return -1;
  }
  cache_ok = 1;
  return 0;
}

static int64_t now(void) { return (int64_t)time(NULL); }

/* Copies `s` into the caller's buffer; NULL when it does not fit. */
static char* stash(const char* s, char** buf, size_t* left) {
  size_t n = strlen(s) + 1;
  char* out;
  if (n > *left) return NULL;
  out = *buf;
  memcpy(out, s, n);
  *buf += n;
  *left -= n;
  return out;
}

static enum nss_status fill_passwd(const struct warden_nss_user* u, struct passwd* pw, char* buf,
                                   size_t buflen, int* errnop) {
  if (!(pw->pw_name = stash(warden_nss_string(&cache, u->name), &buf, &buflen)) ||
      !(pw->pw_passwd = stash("*", &buf, &buflen)) ||
      !(pw->pw_gecos = stash(warden_nss_string(&cache, u->gecos), &buf, &buflen)) ||
      !(pw->pw_dir = stash(warden_nss_string(&cache, u->home), &buf, &buflen)) ||
      !(pw->pw_shell = stash(warden_nss_string(&cache, u->shell), &buf, &buflen))) {
    *errnop = ERANGE;
    return NSS_STATUS_TRYAGAIN;
  }
  pw->pw_uid = u->uid;
  pw->pw_gid = u->gid;
  return NSS_STATUS_SUCCESS;
}

static enum nss_status fill_group(const struct warden_nss_group* g, struct group* gr, char* buf,
                                  size_t buflen, int* errnop) {
  /* The member pointer array comes first, aligned, then the strings. */
  size_t pad = (sizeof(char*) - ((uintptr_t)buf % sizeof(char*))) % sizeof(char*);
  size_t array = (g->n_members + 1) * sizeof(char*);
  char** mem;
  uint32_t i;
  if (pad + array > buflen) goto erange;
  mem = (char**)(buf + pad);
  buf += pad + array;
  buflen -= pad + array;
  if (!(gr->gr_name = stash(warden_nss_string(&cache, g->name), &buf, &buflen)) ||
      !(gr->gr_passwd = stash("*", &buf, &buflen)))
    goto erange;
  for (i = 0; i < g->n_members; i++) {
    if (!(mem[i] = stash(warden_nss_group_member(&cache, g, i), &buf, &buflen))) goto erange;
  }
  mem[g->n_members] = NULL;
  gr->gr_mem = mem;
  gr->gr_gid = g->gid;
  return NSS_STATUS_SUCCESS;
erange:
  *errnop = ERANGE;
  return NSS_STATUS_TRYAGAIN;
}

/* One passwd lookup: by `name`, or by `uid` when name is NULL. */
static enum nss_status passwd_lookup(const char* name, uid_t uid, struct passwd* pw, char* buf,
                                     size_t buflen, int* errnop) {
  enum nss_status st;
  const struct warden_nss_user* u;
  int saved = errno;
  pthread_mutex_lock(&lock);
  if (refresh() != 0) {
    st = NSS_STATUS_UNAVAIL;
  } else if (!(u = name ? warden_nss_user_by_name(&cache, name, now())
                        : warden_nss_user_by_uid(&cache, (uint32_t)uid, now()))) {
    st = NSS_STATUS_NOTFOUND;
  } else {
    st = fill_passwd(u, pw, buf, buflen, errnop);
  }
  pthread_mutex_unlock(&lock);
  if (st == NSS_STATUS_SUCCESS) errno = saved;
  return st;
}

/* One group lookup: by `name`, or by `gid` when name is NULL. */
static enum nss_status group_lookup(const char* name, gid_t gid, struct group* gr, char* buf,
                                    size_t buflen, int* errnop) {
  enum nss_status st;
  const struct warden_nss_group* g;
  int saved = errno;
  pthread_mutex_lock(&lock);
  if (refresh() != 0) {
    st = NSS_STATUS_UNAVAIL;
  } else if (!(g = name ? warden_nss_group_by_name(&cache, name, now())
                        : warden_nss_group_by_gid(&cache, (uint32_t)gid, now()))) {
    st = NSS_STATUS_NOTFOUND;
  } else {
    st = fill_group(g, gr, buf, buflen, errnop);
  }
  pthread_mutex_unlock(&lock);
  if (st == NSS_STATUS_SUCCESS) errno = saved;
  return st;
}

EXPORT enum nss_status _nss_warden_getpwnam_r(const char* name, struct passwd* pw, char* buf,
                                              size_t buflen, int* errnop) {
  return passwd_lookup(name, 0, pw, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_warden_getpwuid_r(uid_t uid, struct passwd* pw, char* buf,
                                              size_t buflen, int* errnop) {
  return passwd_lookup(NULL, uid, pw, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_warden_setpwent(int stayopen) {
  (void)stayopen;
  pthread_mutex_lock(&lock);
  pw_next = 0;
  pthread_mutex_unlock(&lock);
  return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_warden_endpwent(void) { return _nss_warden_setpwent(0); }

EXPORT enum nss_status _nss_warden_getpwent_r(struct passwd* pw, char* buf, size_t buflen,
                                              int* errnop) {
  enum nss_status st = NSS_STATUS_NOTFOUND;
  int saved = errno;
  int64_t t = now();
  pthread_mutex_lock(&lock);
  if (refresh() != 0) {
    st = NSS_STATUS_UNAVAIL;
  } else {
    while (pw_next < cache.header->n_users && cache.users[pw_next].expires <= t) pw_next++;
    if (pw_next < cache.header->n_users) {
      st = fill_passwd(&cache.users[pw_next], pw, buf, buflen, errnop);
      /* On ERANGE glibc retries with a bigger buffer: stay on this entry. */
      if (st == NSS_STATUS_SUCCESS) pw_next++;
    }
  }
  pthread_mutex_unlock(&lock);
  if (st == NSS_STATUS_SUCCESS) errno = saved;
  return st;
}

EXPORT enum nss_status _nss_warden_getgrnam_r(const char* name, struct group* gr, char* buf,
                                              size_t buflen, int* errnop) {
  return group_lookup(name, 0, gr, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_warden_getgrgid_r(gid_t gid, struct group* gr, char* buf,
                                              size_t buflen, int* errnop) {
  return group_lookup(NULL, gid, gr, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_warden_setgrent(int stayopen) {
  (void)stayopen;
  pthread_mutex_lock(&lock);
  gr_next = 0;
  pthread_mutex_unlock(&lock);
  return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_warden_endgrent(void) { return _nss_warden_setgrent(0); }

EXPORT enum nss_status _nss_warden_getgrent_r(struct group* gr, char* buf, size_t buflen,
                                              int* errnop) {
  enum nss_status st = NSS_STATUS_NOTFOUND;
  int saved = errno;
  int64_t t = now();
  pthread_mutex_lock(&lock);
  if (refresh() != 0) {
    st = NSS_STATUS_UNAVAIL;
  } else {
    while (gr_next < cache.header->n_groups && cache.groups[gr_next].expires <= t) gr_next++;
    if (gr_next < cache.header->n_groups) {
      st = fill_group(&cache.groups[gr_next], gr, buf, buflen, errnop);
      if (st == NSS_STATUS_SUCCESS) gr_next++;
    }
  }
  pthread_mutex_unlock(&lock);
  if (st == NSS_STATUS_SUCCESS) errno = saved;
  return st;
}

/* Supplementary groups of `user`: every live cache group that lists it. */
EXPORT enum nss_status _nss_warden_initgroups_dyn(const char* user, gid_t group, long int* start,
                                                  long int* size, gid_t** groupsp, long int limit,
                                                  int* errnop) {
  enum nss_status st = NSS_STATUS_NOTFOUND;
  int64_t t = now();
  uint32_t i, m;
  int saved = errno;
  pthread_mutex_lock(&lock);
  if (refresh() != 0) {
    pthread_mutex_unlock(&lock);
    return NSS_STATUS_UNAVAIL;
  }
  for (i = 0; i < cache.header->n_groups; i++) {
    const struct warden_nss_group* g = &cache.groups[i];
    if (g->expires <= t || g->gid == group) continue;
    for (m = 0; m < g->n_members; m++) {
      if (strcmp(warden_nss_group_member(&cache, g, m), user) != 0) continue;
      if (*start == *size) {
        long int n = *size * 2;
        gid_t* grown;
        if (limit > 0 && n > limit) n = limit;
        if (n <= *size) goto done; /* at the caller's limit */
        grown = realloc(*groupsp, (size_t)n * sizeof(gid_t));
        if (!grown) {
          *errnop = ENOMEM;
          st = NSS_STATUS_TRYAGAIN;
          goto done;
        }
        *groupsp = grown;
        *size = n;
      }
      (*groupsp)[(*start)++] = g->gid;
      st = NSS_STATUS_SUCCESS;
      break;
    }
  }
done:
  pthread_mutex_unlock(&lock);
  if (st == NSS_STATUS_SUCCESS) errno = saved;
  return st;
}
