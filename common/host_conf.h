/* The parts of /etc/warden/host.yaml that wardend's C clients need (pam_warden.so and
 * warden-principals, which may link only libc): break_glass (flow or block list), agent_socket,
 * state_dir and nss_cache. A line-oriented reader for that subset of YAML; every other key is
 * wardend's business and is skipped here (wardend itself parses the whole file strictly). */
#ifndef WARDEN_COMMON_HOST_CONF_H_
#define WARDEN_COMMON_HOST_CONF_H_

#ifdef __cplusplus
extern "C" {
#endif

#define WARDEN_HOST_CONF_DEFAULT "/etc/warden/host.yaml"
#define WARDEN_MAX_BREAK_GLASS 64
#define WARDEN_NAME_LEN 64
#define WARDEN_PATH_LEN 256

struct warden_host_conf {
  char socket[WARDEN_PATH_LEN];
  char nss_cache[WARDEN_PATH_LEN];
  char state_dir[WARDEN_PATH_LEN];
  char break_glass[WARDEN_MAX_BREAK_GLASS][WARDEN_NAME_LEN];
  int n_break_glass;
};

/* Fills `c` with the defaults, then with what `path` says (a missing file keeps the defaults). */
void warden_host_conf_load(const char* path, struct warden_host_conf* c);
int warden_host_conf_is_break_glass(const struct warden_host_conf* c, const char* user);

#ifdef __cplusplus
}
#endif

#endif /* WARDEN_COMMON_HOST_CONF_H_ */
