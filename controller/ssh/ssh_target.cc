#include "controller/ssh/ssh_target.h"

#include <openssl/crypto.h>

#include <chrono>
#include <memory>

#include "common/ssh_login.h"
#include "common/strings.h"

namespace warden {
namespace {

constexpr long kTimeoutSeconds = 10;
// How long the change command may run before the change is taken as of unknown outcome.
constexpr int kCommandSeconds = 60;
constexpr size_t kMaxOutput = 4096;

using Channel = std::unique_ptr<ssh_channel_struct, void (*)(ssh_channel)>;

void FreeChannel(ssh_channel c) {
  ssh_channel_close(c);
  ssh_channel_free(c);
}

SshLoginTarget LoginOf(const RotationTargetPolicy& t) {
  return {t.host, t.port, t.user, t.host_key, t.path, kTimeoutSeconds};
}

std::string Where(const RotationTargetPolicy& t) { return SshLoginWhere(LoginOf(t)); }

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
  return SshPasswordLogin(LoginOf(t), value.view()).status();
}

absl::Status SshApplianceTarget::Change(const RotationTargetPolicy& t, const SecretBytes* current,
                                        const SecretBytes& next) {
  if (!current)
    return absl::FailedPreconditionError(StrCat(Where(t), " changes its password with the current one"));
  ASSIGN_OR_RETURN(SshSession s, SshPasswordLogin(LoginOf(t), current->view()));
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
