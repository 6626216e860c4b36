#include "controller/ssh/ssh_target.h"

#include <libssh/libssh.h>
#include <openssl/crypto.h>

#include <memory>

#include "common/crypto.h"
#include "common/strings.h"

namespace warden {
namespace {

constexpr long kTimeoutSeconds = 10;
constexpr int kReadTimeoutMs = 10000;
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

// A session to `t` whose host key is the pinned one, authenticated with `password`.
absl::StatusOr<Session> LogIn(const RotationTargetPolicy& t, const SecretBytes& password) {
  Session s(ssh_new(), FreeSession);
  if (!s) return absl::ResourceExhaustedError("ssh_new failed");
  const unsigned int port = static_cast<unsigned int>(t.port);
  const long timeout = kTimeoutSeconds;
  const int no = 0;
  ssh_options_set(s.get(), SSH_OPTIONS_HOST, t.host.c_str());
  ssh_options_set(s.get(), SSH_OPTIONS_PORT, &port);
  ssh_options_set(s.get(), SSH_OPTIONS_USER, t.user.c_str());
  ssh_options_set(s.get(), SSH_OPTIONS_TIMEOUT, &timeout);
  // Nothing from the controller's own ~/.ssh/config or known_hosts: the policy says it all.
  ssh_options_set(s.get(), SSH_OPTIONS_PROCESS_CONFIG, &no);
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
  std::string pw(password.view());
  const int rc = ssh_userauth_password(s.get(), nullptr, pw.c_str());
  OPENSSL_cleanse(pw.data(), pw.size());
  if (rc == SSH_AUTH_SUCCESS) return s;
  if (rc == SSH_AUTH_DENIED)
    return absl::PermissionDeniedError(StrCat(Where(t), " refused the password"));
  return absl::UnavailableError(StrCat("logging in to ", Where(t), ": ",
                                       rc == SSH_AUTH_PARTIAL ? "the target wants another factor"
                                                              : ssh_get_error(s.get())));
}

// `text` with every occurrence of the secrets replaced, on one line, bounded.
std::string Scrubbed(std::string text, const SecretBytes& a, const SecretBytes& b) {
  for (const SecretBytes* secret : {&a, &b}) {
    const std::string_view v = secret->view();
    if (v.empty()) continue;
    for (size_t at = text.find(v); at != std::string::npos; at = text.find(v, at))
      text.replace(at, v.size(), "[redacted]");
  }
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text.substr(0, 300);
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
  std::string out, err;
  char buf[1024];
  for (int is_stderr = 0; is_stderr < 2; is_stderr++) {
    for (;;) {
      const int n = ssh_channel_read_timeout(ch.get(), buf, sizeof buf, is_stderr, kReadTimeoutMs);
      if (n == SSH_ERROR)
        return absl::UnavailableError(StrCat("reading the change command's output on ", Where(t),
                                             ": ", ssh_get_error(s.get())));
      if (n <= 0) break;  // end of file (or no output within the timeout)
      std::string& to = is_stderr ? err : out;
      if (to.size() < kMaxOutput) to.append(buf, static_cast<size_t>(n));
    }
  }
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
