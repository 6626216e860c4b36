#include "controller/ssh/ssh_target.h"

#include <libssh/libssh.h>
#include <openssl/crypto.h>

#include <chrono>
#include <memory>

#include "common/crypto.h"
#include "common/sshkey.h"
#include "common/strings.h"

namespace warden {
namespace {

constexpr long kTimeoutSeconds = 10;
// How long the change command may run before the change is taken as of unknown outcome.
constexpr int kCommandSeconds = 60;
constexpr size_t kMaxOutput = 4096;

using Session = std::unique_ptr<ssh_session_struct, void (*)(ssh_session)>;
using Channel = std::unique_ptr<ssh_channel_struct, void (*)(ssh_channel)>;

void FreeSession(ssh_session s) {
  ssh_disconnect(s);
  ssh_free(s);
}

void FreeChannel(ssh_channel c) {
  ssh_channel_close(c);
  ssh_channel_free(c);
}

std::string Where(const RotationTargetPolicy& t) { return StrCat(t.user, "@", t.host, ":", t.port); }

// The host key algorithms that offer the pinned key's type, so a server with several host keys
// presents that one.
std::string HostKeyAlgorithms(const Bytes& pinned) {
  absl::StatusOr<PublicKey> key = ParsePublicKey(pinned);
  if (!key.ok()) return "";
  const std::string name(KeyTypeName(key->type));
  return name == "ssh-rsa" ? "rsa-sha2-512,rsa-sha2-256,ssh-rsa" : name;
}

// A session to `t` whose host key is the pinned one, authenticated with `password`.
absl::StatusOr<Session> LogIn(const RotationTargetPolicy& t, const SecretBytes& password) {
  const std::string_view pw_view = password.view();
  if (pw_view.find_first_of(std::string_view("\0\n", 2)) != std::string_view::npos)
    return absl::InvalidArgumentError(StrCat("the vaulted value of ", t.path, " holds a NUL or a "
                                             "newline: not a password an SSH target can take"));
  Session s(ssh_new(), FreeSession);
  if (!s) return absl::ResourceExhaustedError("ssh_new failed");
  const unsigned int port = static_cast<unsigned int>(t.port);
  const long timeout = kTimeoutSeconds;
  const bool no = false;
  const std::string algorithms = HostKeyAlgorithms(t.host_key);
  // Nothing from the controller's own ~/.ssh/config or known_hosts: the policy says it all.
  if (ssh_options_set(s.get(), SSH_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_KNOWNHOSTS, "/dev/null") != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_HOST, t.host.c_str()) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_PORT, &port) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_USER, t.user.c_str()) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_TIMEOUT, &timeout) != SSH_OK ||
      algorithms.empty() ||
      ssh_options_set(s.get(), SSH_OPTIONS_HOSTKEYS, algorithms.c_str()) != SSH_OK)
    return absl::FailedPreconditionError(StrCat("setting up SSH to ", Where(t), ": ",
                                                ssh_get_error(s.get()), ": nothing was sent"));
  if (ssh_connect(s.get()) != SSH_OK)
    return absl::UnavailableError(StrCat("cannot connect to ", Where(t), ": ", ssh_get_error(s.get())));
  ssh_key key = nullptr;
  if (ssh_get_server_publickey(s.get(), &key) != SSH_OK)
    return absl::UnavailableError(StrCat(Where(t), " sent no host key"));
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
    return absl::FailedPreconditionError(StrCat(Where(t), " let Warden in without a password: "
                                                "the password cannot be proven there"));
  if (!(ssh_userauth_list(s.get(), nullptr) & SSH_AUTH_METHOD_PASSWORD))
    return absl::FailedPreconditionError(StrCat(Where(t), " does not offer password logins (only "
                                                "keyboard-interactive or keys, say)"));
  std::string pw(pw_view);
  const int rc = ssh_userauth_password(s.get(), nullptr, pw.c_str());
  OPENSSL_cleanse(pw.data(), pw.size());
  if (rc == SSH_AUTH_SUCCESS) return s;
  if (rc == SSH_AUTH_DENIED)
    return absl::PermissionDeniedError(StrCat(Where(t), " refused the password"));
  return absl::UnavailableError(StrCat("logging in to ", Where(t), ": ",
                                       rc == SSH_AUTH_PARTIAL ? "the target wants another factor"
                                                              : ssh_get_error(s.get())));
}

// The first line of a change command's stderr for an error message, or a note that it was
// withheld: it is left out whole if it holds any 6 characters in a row of either password (a
// shell's `set -x` quotes a password, so an exact match is not enough).
std::string Scrubbed(const std::string& text, const SecretBytes& a, const SecretBytes& b) {
  constexpr size_t kRun = 6;
  for (const SecretBytes* secret : {&a, &b}) {
    const std::string_view v = secret->view();
    for (size_t i = 0; i + kRun <= v.size() || (i == 0 && !v.empty()); i++) {
      if (text.find(v.substr(i, kRun)) != std::string::npos)
        return "(its error output is withheld: it holds part of a password)";
      if (v.size() < kRun) break;
    }
  }
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
  return line.substr(0, 300);
}

}  // namespace

absl::Status SshApplianceTarget::Verify(const RotationTargetPolicy& t, const SecretBytes& value) {
  return LogIn(t, value).status();
}

absl::Status SshApplianceTarget::Change(const RotationTargetPolicy& t, const SecretBytes* current,
                                        const SecretBytes& next) {
  if (!current)
    return absl::FailedPreconditionError(StrCat(Where(t), " changes its password with the current one"));
  ASSIGN_OR_RETURN(Session s, LogIn(t, *current));
  Channel ch(ssh_channel_new(s.get()), FreeChannel);
  if (!ch || ssh_channel_open_session(ch.get()) != SSH_OK ||
      ssh_channel_request_exec(ch.get(), t.change_command.c_str()) != SSH_OK)
    return absl::UnavailableError(StrCat("running the change command on ", Where(t), ": ",
                                         ssh_get_error(s.get())));
  SecretBytes input(current->size() + next.size() + 2);
  uint8_t* p = input.data();
  p = std::copy(current->data(), current->data() + current->size(), p);
  *p++ = '\n';
  p = std::copy(next.data(), next.data() + next.size(), p);
  *p++ = '\n';
  if (ssh_channel_write(ch.get(), input.data(), static_cast<uint32_t>(input.size())) !=
          static_cast<int>(input.size()) ||
      ssh_channel_send_eof(ch.get()) != SSH_OK)
    return absl::UnavailableError(StrCat("writing to the change command on ", Where(t), ": ",
                                         ssh_get_error(s.get())));
  // Read both streams until the command's end of output, within one deadline. Past it the
  // outcome is unknown (a device still committing): DEADLINE_EXCEEDED keeps the new value
  // pending, to be tried again, rather than taking the change as failed.
  std::string out, err;
  char buf[1024];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kCommandSeconds);
  while (!ssh_channel_is_eof(ch.get())) {
    if (std::chrono::steady_clock::now() > deadline) {
      OPENSSL_cleanse(out.data(), out.size());
      OPENSSL_cleanse(err.data(), err.size());
      return absl::DeadlineExceededError(StrCat("the change command on ", Where(t), " (",
                                                t.change_command, ") did not finish within ",
                                                kCommandSeconds, " s"));
    }
    for (int is_stderr = 0; is_stderr < 2; is_stderr++) {
      const int n = ssh_channel_read_timeout(ch.get(), buf, sizeof buf, is_stderr, 100);
      if (n == SSH_ERROR)
        return absl::UnavailableError(StrCat("reading the change command's output on ", Where(t),
                                             ": ", ssh_get_error(s.get())));
      std::string& to = is_stderr ? err : out;
      if (n > 0 && to.size() < kMaxOutput) to.append(buf, static_cast<size_t>(n));
    }
  }
  OPENSSL_cleanse(buf, sizeof buf);
  const int status = ssh_channel_get_exit_status(ch.get());
  OPENSSL_cleanse(out.data(), out.size());
  if (status != 0) {
    const std::string why = Scrubbed(err, *current, next);
    OPENSSL_cleanse(err.data(), err.size());
    return absl::FailedPreconditionError(
        StrCat("the change command on ", Where(t), " (", t.change_command, ") exited with ",
               status < 0 ? std::string("no status") : StrCat("status ", status),
               why.empty() ? "" : ": ", why));
  }
  OPENSSL_cleanse(err.data(), err.size());
  return absl::OkStatus();
}

}  // namespace warden
