#include "common/ssh_login.h"

#include <openssl/crypto.h>

#include "common/crypto.h"
#include "common/sshkey.h"
#include "common/strings.h"

namespace warden {
namespace {

// The host key algorithms that offer the pinned key's type, so a server with several host keys
// presents that one.
std::string HostKeyAlgorithms(const Bytes& pinned) {
  absl::StatusOr<PublicKey> key = ParsePublicKey(pinned);
  if (!key.ok()) return "";
  const std::string name(KeyTypeName(key->type));
  return name == "ssh-rsa" ? "rsa-sha2-512,rsa-sha2-256,ssh-rsa" : name;
}

}  // namespace

void SshSessionFree::operator()(ssh_session s) const {
  ssh_disconnect(s);
  ssh_free(s);
}

std::string SshLoginWhere(const SshLoginTarget& t) { return StrCat(t.user, "@", t.host, ":", t.port); }

absl::StatusOr<SshSession> SshPasswordLogin(const SshLoginTarget& t, std::string_view password) {
  if (password.find_first_of(std::string_view("\0\n", 2)) != std::string_view::npos)
    return absl::InvalidArgumentError(StrCat("the vaulted value of ", t.what, " holds a NUL or a "
                                             "newline: not a password an SSH target can take"));
  SshSession s(ssh_new());
  if (!s) return absl::ResourceExhaustedError("ssh_new failed");
  const unsigned int port = static_cast<unsigned int>(t.port);
  const long timeout = t.timeout_seconds;
  const bool no = false;
  const int one = 1;
  const std::string algorithms = HostKeyAlgorithms(t.host_key);
  // Nothing from the process's own ~/.ssh/config or known_hosts: the caller says it all.
  if (ssh_options_set(s.get(), SSH_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_KNOWNHOSTS, "/dev/null") != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_HOST, t.host.c_str()) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_PORT, &port) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_USER, t.user.c_str()) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_TIMEOUT, &timeout) != SSH_OK ||
      // Keystrokes go out at once (no Nagle delay behind an unacknowledged segment), and the
      // AES-GCM ciphers (AES-NI) come first: the gateway decrypts and encrypts every byte twice.
      ssh_options_set(s.get(), SSH_OPTIONS_NODELAY, &one) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_CIPHERS_C_S, kSshCipherPreference) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_CIPHERS_S_C, kSshCipherPreference) != SSH_OK ||
      algorithms.empty() ||
      ssh_options_set(s.get(), SSH_OPTIONS_HOSTKEYS, algorithms.c_str()) != SSH_OK)
    return absl::FailedPreconditionError(StrCat("setting up SSH to ", SshLoginWhere(t), ": ",
                                                ssh_get_error(s.get()), ": nothing was sent"));
  if (ssh_connect(s.get()) != SSH_OK)
    return absl::UnavailableError(StrCat("cannot connect to ", SshLoginWhere(t), ": ",
                                         ssh_get_error(s.get())));
  ssh_key key = nullptr;
  if (ssh_get_server_publickey(s.get(), &key) != SSH_OK)
    return absl::UnavailableError(StrCat(SshLoginWhere(t), " sent no host key"));
  char* b64 = nullptr;
  const int exported = ssh_pki_export_pubkey_base64(key, &b64);
  ssh_key_free(key);
  absl::StatusOr<Bytes> blob = exported == SSH_OK ? Base64Decode(b64) : absl::InternalError("");
  ssh_string_free_char(b64);
  if (!blob.ok() || *blob != t.host_key)
    return absl::FailedPreconditionError(StrCat(
        "the host key of ", t.host, ":", t.port, " is not the one pinned in the policy (",
        blob.ok() ? Fingerprint(*blob) : "unreadable", " instead of ", Fingerprint(t.host_key),
        "): no password was sent; if the target was reinstalled, pin its new key"));
  // Which methods the server offers: a refusal of the password means something only where the
  // password method is on offer, and a server that lets Warden in without one proves nothing.
  const int none = ssh_userauth_none(s.get(), nullptr);
  if (none == SSH_AUTH_SUCCESS)
    return absl::FailedPreconditionError(StrCat(SshLoginWhere(t), " let Warden in without a "
                                                "password: the password cannot be proven there"));
  if (!(ssh_userauth_list(s.get(), nullptr) & SSH_AUTH_METHOD_PASSWORD))
    return absl::FailedPreconditionError(StrCat(SshLoginWhere(t), " does not offer password "
                                                "logins (only keyboard-interactive or keys, say)"));
  std::string pw(password);
  const int rc = ssh_userauth_password(s.get(), nullptr, pw.c_str());
  OPENSSL_cleanse(pw.data(), pw.size());
  if (rc == SSH_AUTH_SUCCESS) return s;
  if (rc == SSH_AUTH_DENIED)
    return absl::PermissionDeniedError(StrCat(SshLoginWhere(t), " refused the password"));
  return absl::UnavailableError(StrCat("logging in to ", SshLoginWhere(t), ": ",
                                       rc == SSH_AUTH_PARTIAL ? "the target wants another factor"
                                                              : ssh_get_error(s.get())));
}

}  // namespace warden
