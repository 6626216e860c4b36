/* warden-principals: sshd's AuthorizedPrincipalsCommand. Prints USER if wardend says its lease is
 * valid on this host, nothing otherwise (sshd then refuses the certificate). sshd runs it for
 * every certificate it considers, often twice per login, so it is a small C program that links
 * only libc: no C++ runtime, gRPC or protobuf to load.
 *
 *   warden-principals [--config /etc/warden/host.yaml] USER */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/agent_wire.h"
#include "common/host_conf.h"

int main(int argc, char** argv) {
  const char* config = WARDEN_HOST_CONF_DEFAULT;
  const char* user = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
      config = argv[++i];
    } else if (!user && argv[i][0] != '-') {
      user = argv[i];
    } else {
      user = NULL;
      break;
    }
  }
  if (!user || !*user) {
    fprintf(stderr, "usage: warden-principals [--config FILE] USER\n");
    return 2;
  }
  struct warden_host_conf conf;
  warden_host_conf_load(config, &conf);
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
  if (reply.verdict == WARDEN_VERDICT_ALLOW && strcmp(reply.principal, user) == 0) {
    printf("%s\n", reply.principal);
  }
  return 0;
}
