/* The PAM module's side of wardend's local socket (see proto/warden/v1/agent.proto), in plain C:
 * pam_warden.so may link only libc and libpam, so it encodes the few requests it sends and
 * decodes the reply by hand, in protobuf wire format. Frames: 4-byte big-endian length + body.
 * Every function is bounded by its buffer and never trusts a length it reads. */
#ifndef WARDEN_COMMON_AGENT_WIRE_H_
#define WARDEN_COMMON_AGENT_WIRE_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WARDEN_AGENT_MAX_MESSAGE 65536u

enum warden_agent_verdict {
  WARDEN_VERDICT_UNSPECIFIED = 0,
  WARDEN_VERDICT_ALLOW = 1,
  WARDEN_VERDICT_DENY = 2,
  WARDEN_VERDICT_NOT_MANAGED = 3,
  WARDEN_VERDICT_HOLD = 4, /* session registered; a second reply (ALLOW or DENY) follows */
};

struct warden_agent_reply {
  int verdict;
  char message[512];   /* truncated if longer, always NUL-terminated */
  char session_id[64];
  char principal[64];  /* the first of `principals`, if any */
};

/* Each encoder writes one whole frame (length prefix included) into buf and returns its size,
 * or 0 if it does not fit. NULL strings are sent as empty. */
size_t warden_agent_encode_account(uint8_t* buf, size_t cap, const char* user,
                                   const char* service, const char* rhost);
size_t warden_agent_encode_session_open(uint8_t* buf, size_t cap, const char* user,
                                        const char* service, const char* tty, int32_t pid,
                                        const char* rhost);
size_t warden_agent_encode_session_close(uint8_t* buf, size_t cap, const char* session_id);
size_t warden_agent_encode_principals(uint8_t* buf, size_t cap, const char* user);

/* Decodes an AgentResponse body (without the length prefix). Returns 0, or -1 if malformed. */
int warden_agent_decode_reply(const uint8_t* body, size_t len, struct warden_agent_reply* out);

/* Connects to the socket at `path`, waiting at most `timeout_ms` for wardend to accept (a full
 * listen queue blocks connect(2)); returns the fd or -1 (errno set; EAGAIN on timeout). */
int warden_agent_connect(const char* path, int timeout_ms);
/* Sends `frame` and reads one reply frame, all within `timeout_ms`. Returns 0, or -1 on
 * timeout, EOF, an oversized or malformed reply. */
int warden_agent_roundtrip(int fd, const uint8_t* frame, size_t frame_len, int timeout_ms,
                           struct warden_agent_reply* out);
/* Reads one more reply frame within `timeout_ms` (after a HOLD). Returns 0 or -1 as above. */
int warden_agent_read_reply(int fd, int timeout_ms, struct warden_agent_reply* out);

#ifdef __cplusplus
}
#endif

#endif /* WARDEN_COMMON_AGENT_WIRE_H_ */
