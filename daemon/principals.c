/* warden-principals: sshd's AuthorizedPrincipalsCommand. Prints USER if wardend says its lease is
 * valid on this host, nothing otherwise (sshd then refuses the certificate). sshd runs it for
 * every certificate it considers, often twice per login, so it is a small C program that links
 * only libc: no C++ runtime, gRPC or protobuf to load.
 *
 *   warden-principals [--config /etc/warden/host.yaml] [--ca-key BASE64] USER
 *
 * --ca-key (sshd's %K) is the key of the CA that signed the certificate. sshd trusts one
 * TrustedUserCAKeys file for every user; when `configure-host --merge` put the site's own CA
 * keys in it beside Warden's, the CA decides which accounts a certificate may reach:
 *   - a CA in STATE_DIR/controller_trusted_user_ca_keys (Warden's): Warden accounts with a valid
 *     lease, as above;
 *   - a CA in STATE_DIR/site_trusted_user_ca_keys (the site's): only accounts Warden does not
 *     manage (break-glass ones without asking wardend), as sshd did without a principals
 *     command: the certificate must then list USER. Never a Warden account, so the site's CA
 *     can never stand in for an approved grant;
 *   - any other CA: nothing. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/agent_wire.h"
#include "common/host_conf.h"

/* 1 when the CA key file STATE_DIR/NAME lists a key whose base64 is `key`. */
static int ca_listed(const char* state_dir, const char* name, const char* key) {
  char path[WARDEN_PATH_LEN + 64];
  snprintf(path, sizeof path, "%s/%s", state_dir, name);
  FILE* f = fopen(path, "re");
  if (!f) return 0;
  static char line[16384];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    char* save = NULL;
    const char* type = strtok_r(line, " \t\r\n", &save);
    const char* blob = type && type[0] != '#' ? strtok_r(NULL, " \t\r\n", &save) : NULL;
    found = blob && strcmp(blob, key) == 0;
  }
  fclose(f);
  return found;
}

int main(int argc, char** argv) {
  const char* config = WARDEN_HOST_CONF_DEFAULT;
  const char* ca_key = NULL;
  const char* user = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
      config = argv[++i];
    } else if (strcmp(argv[i], "--ca-key") == 0 && i + 1 < argc) {
      ca_key = argv[++i];
    } else if (!user && argv[i][0] != '-') {
      user = argv[i];
    } else {
      user = NULL;
      break;
    }
  }
  if (!user || !*user || (ca_key && !*ca_key)) {
    fprintf(stderr, "usage: warden-principals [--config FILE] [--ca-key BASE64] USER\n");
    return 2;
  }
  struct warden_host_conf conf;
  warden_host_conf_load(config, &conf);
  int site = 0;
  if (ca_key && !ca_listed(conf.state_dir, "controller_trusted_user_ca_keys", ca_key)) {
    if (!ca_listed(conf.state_dir, "site_trusted_user_ca_keys", ca_key)) return 0;
    site = 1;
    if (warden_host_conf_is_break_glass(&conf, user)) {
      printf("%s\n", user);
      return 0;
    }
  }
  uint8_t frame[512];
  size_t len = warden_agent_encode_principals(frame, sizeof frame, user);
  int fd = warden_agent_connect(conf.socket, 5000);
  if (fd < 0) {
    fprintf(stderr, "warden-principals: wardend is not reachable at %s\n", conf.socket);
    return 1;
  }
  struct warden_agent_reply reply;
  int rc = len ? warden_agent_roundtrip(fd, frame, len, 5000, &reply) : -1;
  close(fd);
  if (rc != 0) {
    fprintf(stderr, "warden-principals: no valid answer from wardend\n");
    return 1;
  }
  if (site) {
    if (reply.verdict == WARDEN_VERDICT_NOT_MANAGED) printf("%s\n", user);
  } else if (reply.verdict == WARDEN_VERDICT_ALLOW && strcmp(reply.principal, user) == 0) {
    printf("%s\n", reply.principal);
  }
  return 0;
}
