/* pam_warden.so: account and session for Warden's ephemeral accounts. Thin: every decision is
 * wardend's, asked over /run/warden/agent.sock. Links only libc and libpam (no threads, no
 * global constructors, no network).
 *
 *   account  requisite pam_warden.so [config=/etc/warden/host.yaml] [socket=PATH] [debug]
 *   session  required  pam_warden.so [same options]
 *
 * account: break-glass users (host.yaml) -> PAM_IGNORE without asking anyone; otherwise wardend
 * says ALLOW (PAM_SUCCESS), DENY (PAM_PERM_DENIED, with its reason on the conversation) or
 * NOT_MANAGED (PAM_IGNORE). If wardend cannot be reached, a user present in Warden's NSS cache is
 * refused (fail closed) and anyone else is ignored.
 * session: open registers the session and keeps the connection for the session's lifetime (its
 * end tells wardend the session ended); close sends the session's close and drops it. When the
 * role requires moderators (four-eyes), wardend answers HOLD and open waits (up to HOLD_MAX_MS;
 * wardend's own limit, the role's require_moderator.wait, is shorter) for its final word. */
#define PAM_SM_ACCOUNT
#define PAM_SM_SESSION

#include <errno.h>
#include <fcntl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/agent_wire.h"
#include "common/host_conf.h"
#include "common/nsscache.h"

#define TIMEOUT_MS 5000
#define HOLD_MAX_MS (24 * 3600 * 1000)
#define DATA_KEY "warden_session"
#define EXPORT __attribute__((visibility("default")))

struct opts {
  struct warden_host_conf conf;
  int debug;
};

struct session {
  int fd;
  char id[64];
};

static void load_opts(int argc, const char** argv, struct opts* o) {
  const char* config = WARDEN_HOST_CONF_DEFAULT;
  o->debug = 0;
  for (int i = 0; i < argc; i++) {
    if (strncmp(argv[i], "config=", 7) == 0) config = argv[i] + 7;
  }
  warden_host_conf_load(config, &o->conf);
  for (int i = 0; i < argc; i++) {
    if (strncmp(argv[i], "socket=", 7) == 0) {
      snprintf(o->conf.socket, sizeof o->conf.socket, "%s", argv[i] + 7);
    }
    if (strcmp(argv[i], "debug") == 0) o->debug = 1;
  }
}

/* Whether `user` is a Warden account according to the NSS cache (used only when wardend cannot
 * be asked). */
static int in_cache(const struct opts* o, const char* user) {
  int fd = open(o->conf.nss_cache, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st;
  int found = 0;
  if (fstat(fd, &st) == 0 && st.st_size > 0) {
    void* base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (base != MAP_FAILED) {
      struct warden_nss_cache cache;
      found = warden_nss_cache_open(base, (size_t)st.st_size, &cache) == 0 &&
              warden_nss_user_by_name(&cache, user, (int64_t)time(NULL)) != NULL;
      munmap(base, (size_t)st.st_size);
    }
  }
  close(fd);
  return found;
}

static void tell(pam_handle_t* pamh, int flags, const char* msg) {
  if (!(flags & PAM_SILENT) && msg && *msg) pam_prompt(pamh, PAM_ERROR_MSG, NULL, "%s", msg);
}

static const char* item(pam_handle_t* pamh, int type) {
  const void* v = NULL;
  return pam_get_item(pamh, type, &v) == PAM_SUCCESS && v ? (const char*)v : "";
}

/* wardend could not be asked: refuse Warden accounts, ignore everyone else. */
static int unreachable(pam_handle_t* pamh, int flags, const struct opts* o, const char* user,
                       int refuse) {
  if (!in_cache(o, user)) return PAM_IGNORE;
  pam_syslog(pamh, LOG_ERR, "wardend unreachable at %s; refusing Warden account %s", o->conf.socket, user);
  tell(pamh, flags,
       "Warden: the host agent (wardend) is not reachable, so Warden accounts cannot log in. "
       "Break-glass accounts still can.");
  return refuse;
}

static int ask(const struct opts* o, const uint8_t* frame, size_t len, int* fd_out,
               struct warden_agent_reply* reply) {
  int fd = warden_agent_connect(o->conf.socket, TIMEOUT_MS);
  if (fd < 0) return -1;
  if (len == 0 || warden_agent_roundtrip(fd, frame, len, TIMEOUT_MS, reply) != 0) {
    close(fd);
    return -1;
  }
  if (fd_out) {
    *fd_out = fd;
  } else {
    close(fd);
  }
  return 0;
}

EXPORT int pam_sm_acct_mgmt(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  struct opts o;
  load_opts(argc, argv, &o);
  const char* user = NULL;
  if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !user || !*user) return PAM_USER_UNKNOWN;
  if (warden_host_conf_is_break_glass(&o.conf, user)) return PAM_IGNORE;
  uint8_t frame[2048];
  size_t len = warden_agent_encode_account(frame, sizeof frame, user, item(pamh, PAM_SERVICE),
                                           item(pamh, PAM_RHOST));
  struct warden_agent_reply reply;
  if (ask(&o, frame, len, NULL, &reply) != 0) return unreachable(pamh, flags, &o, user, PAM_PERM_DENIED);
  if (o.debug) pam_syslog(pamh, LOG_DEBUG, "account %s: verdict %d", user, reply.verdict);
  switch (reply.verdict) {
    case WARDEN_VERDICT_ALLOW:
      return PAM_SUCCESS;
    case WARDEN_VERDICT_NOT_MANAGED:
      return PAM_IGNORE;
    default:
      pam_syslog(pamh, LOG_NOTICE, "refused %s: %s", user, reply.message);
      tell(pamh, flags, reply.message);
      return PAM_PERM_DENIED;
  }
}

static void cleanup_session(pam_handle_t* pamh, void* data, int error_status) {
  (void)pamh;
  (void)error_status;
  struct session* s = data;
  if (s->fd >= 0) close(s->fd);
  free(s);
}

EXPORT int pam_sm_open_session(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  struct opts o;
  load_opts(argc, argv, &o);
  const char* user = NULL;
  if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !user || !*user) return PAM_SESSION_ERR;
  if (warden_host_conf_is_break_glass(&o.conf, user)) return PAM_IGNORE;
  uint8_t frame[2048];
  size_t len = warden_agent_encode_session_open(frame, sizeof frame, user, item(pamh, PAM_SERVICE),
                                                item(pamh, PAM_TTY), (int32_t)getpid(),
                                                item(pamh, PAM_RHOST));
  struct warden_agent_reply reply;
  int fd = -1;
  if (ask(&o, frame, len, &fd, &reply) != 0) return unreachable(pamh, flags, &o, user, PAM_SESSION_ERR);
  if (reply.verdict == WARDEN_VERDICT_HOLD) {
    pam_syslog(pamh, LOG_NOTICE, "session %s of %s waits for moderators", reply.session_id, user);
    if (!(flags & PAM_SILENT) && reply.message[0]) pam_info(pamh, "%s", reply.message);
    if (warden_agent_read_reply(fd, HOLD_MAX_MS, &reply) != 0) {
      close(fd);
      pam_syslog(pamh, LOG_ERR, "wardend went away while %s waited for moderators", user);
      return PAM_SESSION_ERR;
    }
  }
  if (reply.verdict == WARDEN_VERDICT_ALLOW && reply.session_id[0]) {
    struct session* s = calloc(1, sizeof *s);
    if (!s) {
      close(fd);
      return PAM_BUF_ERR;
    }
    s->fd = fd;
    snprintf(s->id, sizeof s->id, "%s", reply.session_id);
    if (pam_set_data(pamh, DATA_KEY, s, cleanup_session) != PAM_SUCCESS) {
      cleanup_session(pamh, s, 0);
      return PAM_SESSION_ERR;
    }
    pam_syslog(pamh, LOG_INFO, "session %s opened for %s", reply.session_id, user);
    return PAM_SUCCESS;
  }
  close(fd);
  if (reply.verdict == WARDEN_VERDICT_NOT_MANAGED) return PAM_IGNORE;
  pam_syslog(pamh, LOG_NOTICE, "session refused for %s: %s", user, reply.message);
  tell(pamh, flags, reply.message);
  return PAM_SESSION_ERR;
}

EXPORT int pam_sm_close_session(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  (void)flags;
  (void)argc;
  (void)argv;
  const void* data = NULL;
  if (pam_get_data(pamh, DATA_KEY, &data) != PAM_SUCCESS || !data) return PAM_IGNORE;
  const struct session* s = data;
  uint8_t frame[256];
  size_t len = warden_agent_encode_session_close(frame, sizeof frame, s->id);
  struct warden_agent_reply reply;
  if (len) warden_agent_roundtrip(s->fd, frame, len, TIMEOUT_MS, &reply);
  /* Replacing the data runs cleanup_session, which closes the connection. */
  pam_set_data(pamh, DATA_KEY, NULL, NULL);
  return PAM_SUCCESS;
}
