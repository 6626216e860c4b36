#include "common/host_conf.h"

#include <stdio.h>
#include <string.h>

#include "common/nsscache.h"

static void copy(char* dst, size_t cap, const char* src) { snprintf(dst, cap, "%s", src); }

static char* trim(char* s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
  if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
    s[n - 1] = '\0';
    s++;
  }
  return s;
}

static void add_break_glass(struct warden_host_conf* c, char* name) {
  name = trim(name);
  if (*name && c->n_break_glass < WARDEN_MAX_BREAK_GLASS) {
    copy(c->break_glass[c->n_break_glass++], WARDEN_NAME_LEN, name);
  }
}

void warden_host_conf_load(const char* path, struct warden_host_conf* c) {
  memset(c, 0, sizeof *c);
  copy(c->socket, WARDEN_PATH_LEN, "/run/warden/agent.sock");
  copy(c->nss_cache, WARDEN_PATH_LEN, WARDEN_NSS_DEFAULT_PATH);
  copy(c->state_dir, WARDEN_PATH_LEN, "/var/lib/warden");
  copy(c->break_glass[0], WARDEN_NAME_LEN, "root");
  c->n_break_glass = 1;
  FILE* f = fopen(path, "re");
  if (!f) return;
  char line[1024];
  int in_list = 0, nss_explicit = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    char* hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char* t = trim(line);
    if (!*t) continue;
    if (in_list && t[0] == '-') {
      add_break_glass(c, t + 1);
      continue;
    }
    in_list = 0;
    char* colon = strchr(t, ':');
    if (!colon) continue;
    *colon = '\0';
    char* key = trim(t);
    char* value = trim(colon + 1);
    if (strcmp(key, "break_glass") == 0) {
      c->n_break_glass = 0;
      if (!*value) {
        in_list = 1;
      } else if (value[0] == '[') {
        value++;
        char* close = strchr(value, ']');
        if (close) *close = '\0';
        char* save = NULL;
        for (char* tok = strtok_r(value, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
          add_break_glass(c, tok);
        }
      }
    } else if (strcmp(key, "agent_socket") == 0) {
      copy(c->socket, WARDEN_PATH_LEN, value);
    } else if (strcmp(key, "nss_cache") == 0) {
      copy(c->nss_cache, WARDEN_PATH_LEN, value);
      nss_explicit = 1;
    } else if (strcmp(key, "state_dir") == 0) {
      copy(c->state_dir, WARDEN_PATH_LEN, value);
      if (!nss_explicit) snprintf(c->nss_cache, WARDEN_PATH_LEN, "%s/nss.cache", value);
    }
  }
  fclose(f);
}

int warden_host_conf_is_break_glass(const struct warden_host_conf* c, const char* user) {
  for (int i = 0; i < c->n_break_glass; i++) {
    if (strcmp(c->break_glass[i], user) == 0) return 1;
  }
  return 0;
}
