#include "common/agent_wire.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct out {
  uint8_t* p;
  size_t len, cap;
  int overflow;
};

static void put(struct out* o, const void* data, size_t n) {
  if (o->overflow || n > o->cap - o->len) {
    o->overflow = 1;
    return;
  }
  memcpy(o->p + o->len, data, n);
  o->len += n;
}

static void put_varint(struct out* o, uint64_t v) {
  uint8_t b[10];
  size_t n = 0;
  do {
    b[n] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) b[n] |= 0x80;
    n++;
  } while (v);
  put(o, b, n);
}

static size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static size_t string_field_size(int field, const char* s) {
  size_t n = s ? strlen(s) : 0;
  return n ? varint_size((uint64_t)field << 3) + varint_size(n) + n : 0;
}

static void put_string(struct out* o, int field, const char* s) {
  size_t n = s ? strlen(s) : 0;
  if (!n) return; /* proto3: empty strings are not sent */
  put_varint(o, ((uint64_t)field << 3) | 2);
  put_varint(o, n);
  put(o, s, n);
}

/* Fills in the length prefix of a frame begun by `begin`. */
static size_t finish(struct out* o) {
  if (o->overflow) return 0;
  size_t body = o->len - 4;
  if (body > WARDEN_AGENT_MAX_MESSAGE) return 0;
  o->p[0] = (uint8_t)(body >> 24);
  o->p[1] = (uint8_t)(body >> 16);
  o->p[2] = (uint8_t)(body >> 8);
  o->p[3] = (uint8_t)body;
  return o->len;
}

/* Frame = length prefix + AgentRequest{ call_field: submessage of sub_len bytes }. */
static int begin(struct out* o, uint8_t* buf, size_t cap, int call_field, size_t sub_len) {
  o->p = buf;
  o->cap = cap;
  o->len = 0;
  o->overflow = cap < 4;
  if (o->overflow) return -1;
  o->len = 4;
  put_varint(o, ((uint64_t)call_field << 3) | 2);
  put_varint(o, sub_len);
  return o->overflow ? -1 : 0;
}

size_t warden_agent_encode_account(uint8_t* buf, size_t cap, const char* user,
                                   const char* service, const char* rhost) {
  struct out o;
  size_t sub = string_field_size(1, user) + string_field_size(2, service) +
               string_field_size(3, rhost);
  if (begin(&o, buf, cap, 1, sub) != 0) return 0;
  put_string(&o, 1, user);
  put_string(&o, 2, service);
  put_string(&o, 3, rhost);
  return finish(&o);
}

size_t warden_agent_encode_session_open(uint8_t* buf, size_t cap, const char* user,
                                        const char* service, const char* tty, int32_t pid,
                                        const char* rhost) {
  struct out o;
  /* int32 is sign-extended to 64 bits on the wire. */
  uint64_t wire_pid = (uint64_t)(int64_t)pid;
  size_t sub = string_field_size(1, user) + string_field_size(2, service) +
               string_field_size(3, tty) + (pid ? 1 + varint_size(wire_pid) : 0) +
               string_field_size(5, rhost);
  if (begin(&o, buf, cap, 2, sub) != 0) return 0;
  put_string(&o, 1, user);
  put_string(&o, 2, service);
  put_string(&o, 3, tty);
  if (pid) {
    put_varint(&o, (4u << 3) | 0);
    put_varint(&o, wire_pid);
  }
  put_string(&o, 5, rhost);
  return finish(&o);
}

size_t warden_agent_encode_session_close(uint8_t* buf, size_t cap, const char* session_id) {
  struct out o;
  size_t sub = string_field_size(1, session_id);
  if (begin(&o, buf, cap, 3, sub) != 0) return 0;
  put_string(&o, 1, session_id);
  return finish(&o);
}

size_t warden_agent_encode_principals(uint8_t* buf, size_t cap, const char* user) {
  struct out o;
  size_t sub = string_field_size(1, user);
  if (begin(&o, buf, cap, 4, sub) != 0) return 0;
  put_string(&o, 1, user);
  return finish(&o);
}

static int get_varint(const uint8_t** p, const uint8_t* end, uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end) return -1;
    uint8_t b = *(*p)++;
    r |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return 0;
    }
  }
  return -1;
}

static void copy_text(char* dst, size_t cap, const uint8_t* src, size_t n) {
  if (n >= cap) n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
  /* No control characters reach a terminal through the PAM conversation. */
  for (size_t i = 0; i < n; i++) {
    if ((unsigned char)dst[i] < 0x20 || dst[i] == 0x7f) dst[i] = '?';
  }
}

int warden_agent_decode_reply(const uint8_t* body, size_t len, struct warden_agent_reply* out) {
  const uint8_t* p = body;
  const uint8_t* end = body + len;
  memset(out, 0, sizeof *out);
  while (p < end) {
    uint64_t key, v;
    if (get_varint(&p, end, &key) != 0) return -1;
    const unsigned field = (unsigned)(key >> 3), type = (unsigned)(key & 7);
    switch (type) {
      case 0:
        if (get_varint(&p, end, &v) != 0) return -1;
        if (field == 1) out->verdict = v <= 4 ? (int)v : WARDEN_VERDICT_UNSPECIFIED;
        break;
      case 1:
        if ((size_t)(end - p) < 8) return -1;
        p += 8;
        break;
      case 2:
        if (get_varint(&p, end, &v) != 0 || v > (uint64_t)(end - p)) return -1;
        if (field == 2) copy_text(out->message, sizeof out->message, p, (size_t)v);
        if (field == 3) copy_text(out->session_id, sizeof out->session_id, p, (size_t)v);
        if (field == 4 && !out->principal[0]) copy_text(out->principal, sizeof out->principal, p, (size_t)v);
        p += v;
        break;
      case 5:
        if ((size_t)(end - p) < 4) return -1;
        p += 4;
        break;
      default:
        return -1;
    }
  }
  return 0;
}

int warden_agent_connect(const char* path, int timeout_ms) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t n = strlen(path);
  if (n >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(addr.sun_path, path, n + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  /* A blocking connect to a Unix socket whose listen queue is full waits for room, bounded by
   * the send timeout (then EAGAIN). */
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
      connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int transfer(int fd, uint8_t* buf, size_t n, int writing, int64_t deadline) {
  size_t off = 0;
  while (off < n) {
    int64_t left = deadline - now_ms();
    if (left <= 0) return -1;
    struct pollfd p = {fd, (short)(writing ? POLLOUT : POLLIN), 0};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno != EINTR) return -1;
    if (r <= 0) continue;
    ssize_t k = writing ? send(fd, buf + off, n - off, MSG_NOSIGNAL) : recv(fd, buf + off, n - off, 0);
    if (k == 0) return -1;
    if (k < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return -1;
    }
    off += (size_t)k;
  }
  return 0;
}

static int read_reply(int fd, int64_t deadline, struct warden_agent_reply* out) {
  uint8_t len[4];
  if (transfer(fd, len, 4, 0, deadline) != 0) return -1;
  uint32_t n = ((uint32_t)len[0] << 24) | ((uint32_t)len[1] << 16) | ((uint32_t)len[2] << 8) | len[3];
  if (n > 4096) return -1; /* replies are small; anything else is not wardend */
  uint8_t body[4096];
  if (transfer(fd, body, n, 0, deadline) != 0) return -1;
  return warden_agent_decode_reply(body, n, out);
}

int warden_agent_roundtrip(int fd, const uint8_t* frame, size_t frame_len, int timeout_ms,
                           struct warden_agent_reply* out) {
  const int64_t deadline = now_ms() + timeout_ms;
  if (transfer(fd, (uint8_t*)frame, frame_len, 1, deadline) != 0) return -1;
  return read_reply(fd, deadline, out);
}

int warden_agent_read_reply(int fd, int timeout_ms, struct warden_agent_reply* out) {
  return read_reply(fd, now_ms() + timeout_ms, out);
}
