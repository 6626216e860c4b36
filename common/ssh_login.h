// A libssh client session to an SSH target that takes a password: the rotation of kind ssh
// (controller/ssh/ssh_target.h) and the SSH gateway's second leg (gateway/) both log in this way.
// The target's host key must be the pinned one before any password is sent; nothing is read from
// the process's own ~/.ssh (config, known_hosts); the password is wiped from the copy libssh
// needs as soon as it has been sent.
#pragma once

#include <libssh/libssh.h>

#include <memory>
#include <string>

#include "common/bytes.h"
#include "common/status.h"

namespace warden {

struct SshLoginTarget {
  std::string host;
  int port = 22;
  std::string user;
  Bytes host_key;    // the pinned host key's wire blob
  std::string what;  // how messages name the credential (a vault path)
  long timeout_seconds = 10;
};

// Ciphers in order of preference, for both directions of both legs: AES-GCM first (AES-NI).
inline constexpr const char* kSshCipherPreference =
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-ctr,"
    "aes192-ctr,aes128-ctr";

struct SshSessionFree {
  void operator()(ssh_session s) const;
};
using SshSession = std::unique_ptr<ssh_session_struct, SshSessionFree>;

// "USER@HOST:PORT" for messages.
std::string SshLoginWhere(const SshLoginTarget& t);

// A session to `t` whose host key is the pinned one, authenticated with `password`. Errors:
// INVALID_ARGUMENT (a password with a NUL or newline), UNAVAILABLE (no answer),
// FAILED_PRECONDITION (the host key is not the pinned one, or the target lets anyone in or takes
// no password: nothing was sent), PERMISSION_DENIED (the password was refused).
absl::StatusOr<SshSession> SshPasswordLogin(const SshLoginTarget& t, std::string_view password);

}  // namespace warden
