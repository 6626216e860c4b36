#include "daemon/local_password.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <security/pam_appl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "common/files.h"
#include "common/strings.h"

namespace warden {
namespace {

// The lock of the password files that lckpwdf(3) takes (a write lock on .pwd.lock beside the
// shadow file, /etc/.pwd.lock for /etc/shadow), taken here without lckpwdf: glibc waits for it
// with alarm() and SIGALRM, which in a threaded process may reach another thread and leave the
// wait unbounded. An open-file-description lock conflicts with lckpwdf's, and is polled for up
// to 15 s as lckpwdf waits.
class PasswordFilesLock {
 public:
  explicit PasswordFilesLock(const std::string& shadow_path) {
    const std::string path = shadow_path.substr(0, shadow_path.rfind('/') + 1) + ".pwd.lock";
    fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) return;
    struct flock fl = {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    for (int i = 0; i < 150; i++) {
      if (fcntl(fd_, F_OFD_SETLK, &fl) == 0) {
        held_ = true;
        return;
      }
      if (errno != EAGAIN && errno != EACCES && errno != EINTR) break;
      usleep(100 * 1000);
    }
  }
  ~PasswordFilesLock() {
    if (fd_ >= 0) close(fd_);  // releases the lock
  }
  bool held() const { return held_; }

 private:
  int fd_ = -1;
  bool held_ = false;
};

// `password` with a NUL after it, for crypt and PAM. INVALID_ARGUMENT if it holds a NUL.
absl::StatusOr<SecretBytes> Terminated(const SecretBytes& password) {
  if (std::find(password.data(), password.data() + password.size(), 0) != password.data() + password.size())
    return absl::InvalidArgumentError("a password with a NUL byte cannot be a local password");
  SecretBytes out(password.size() + 1);
  std::copy(password.data(), password.data() + password.size(), out.data());
  out.data()[password.size()] = 0;
  return out;
}

// crypt(3) of `password` with `setting` (a salt, or a whole hash to compare against).
absl::StatusOr<std::string> Crypt(const SecretBytes& password, const char* setting) {
  ASSIGN_OR_RETURN(SecretBytes terminated, Terminated(password));
  auto data = std::make_unique<crypt_data>();
  const char* hash = crypt_rn(reinterpret_cast<const char*>(terminated.data()), setting, data.get(),
                              sizeof *data);
  std::string out = hash && hash[0] != '*' ? hash : "";
  OPENSSL_cleanse(data.get(), sizeof *data);
  if (out.empty() || out.find_first_of(":\n") != std::string::npos)
    return absl::InternalError("crypt gave no usable hash");
  return out;
}

// The line of `login` in shadow file text: its offset and length, and its nine fields.
struct ShadowLine {
  size_t start = 0, length = 0;
  std::vector<std::string_view> fields;
};

absl::StatusOr<ShadowLine> FindLine(const std::string& path, std::string_view text,
                                    std::string_view login) {
  const std::string prefix = StrCat(login, ":");
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (line.substr(0, prefix.size()) == prefix) {
      // name:password:lastchg:min:max:warn:inactive:expire:reserved (shadow(5))
      ShadowLine out{start, line.size(), {}};
      for (size_t p = 0;;) {
        const size_t colon = line.find(':', p);
        out.fields.push_back(line.substr(p, colon == std::string_view::npos ? colon : colon - p));
        if (colon == std::string_view::npos) break;
        p = colon + 1;
      }
      if (out.fields.size() != 9)
        return absl::DataLossError(StrCat(path, ": the line of ", login, " has ",
                                          out.fields.size(), " fields, not 9; left as it is"));
      return out;
    }
    start = end + 1;
  }
  return absl::NotFoundError(StrCat(login, " has no line in ", path));
}

// A password field that passwd -l or usermod -L locked: '!' before a hash ("!" alone, "!*" and
// "*" are accounts that never had a password).
bool LockedWithPassword(std::string_view field) {
  return field.size() > 1 && field[0] == '!' && field != "!*";
}

// Writes `content` to a new file beside `path` with `path`'s owner and mode, and renames it
// over `path`.
absl::Status ReplaceFile(const std::string& path, std::string_view content) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return absl::NotFoundError(StrCat(path, ": ", strerror(errno)));
  const std::string tmp = path + ".warden-new";
  unlink(tmp.c_str());  // left by a crash; the lock is ours
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError(StrCat("cannot create ", tmp, ": ", strerror(errno)));
  bool ok = fchown(fd, st.st_uid, st.st_gid) == 0 && fchmod(fd, st.st_mode & 07777) == 0;
  for (size_t off = 0; ok && off < content.size();) {
    const ssize_t n = write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) off += static_cast<size_t>(n);
  }
  const int saved = errno;
  ok = ok && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = strerror(ok ? errno : saved);
    unlink(tmp.c_str());
    return absl::UnavailableError(StrCat("cannot replace ", path, ": ", why));
  }
  const std::string dir = path.substr(0, path.rfind('/') + 1);
  const int dfd = open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

struct Conversation {
  const SecretBytes* password;  // NUL-terminated
  int answered = 0;
};

// Answers the one password prompt (echo off) with the password; messages need no answer; any
// other question (a prompt with echo, a second secret such as a one-time code, a new password)
// is not one a check answers.
int Converse(int n, const struct pam_message** msg, struct pam_response** resp, void* appdata) {
  if (n <= 0 || n > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
  auto* conversation = static_cast<Conversation*>(appdata);
  const SecretBytes& pw = *conversation->password;
  auto* out = static_cast<pam_response*>(calloc(static_cast<size_t>(n), sizeof(pam_response)));
  if (!out) return PAM_BUF_ERR;
  for (int i = 0; i < n; i++) {
    const int style = msg[i]->msg_style;
    if (style == PAM_ERROR_MSG || style == PAM_TEXT_INFO) continue;
    if (style == PAM_PROMPT_ECHO_OFF && conversation->answered++ == 0) {
      out[i].resp = strdup(reinterpret_cast<const char*>(pw.data()));
      if (out[i].resp) continue;
    }
    for (int k = 0; k < i; k++) {
      if (out[k].resp) {
        OPENSSL_cleanse(out[k].resp, strlen(out[k].resp));
        free(out[k].resp);
      }
    }
    free(out);
    return PAM_CONV_ERR;
  }
  *resp = out;
  return PAM_SUCCESS;
}

// pam_unix and others wait a few seconds after a failure (against guessing at a prompt); a
// check of a vaulted value has no prompt to protect.
void NoFailDelay(int, unsigned, void*) {}

}  // namespace

absl::Status SetShadowPassword(const std::string& shadow_path, std::string_view login,
                               const SecretBytes& password, int64_t today) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn(nullptr, 0, nullptr, 0, salt, sizeof salt))
    return absl::InternalError(StrCat("crypt_gensalt: ", strerror(errno)));
  ASSIGN_OR_RETURN(std::string hash, Crypt(password, salt));
  PasswordFilesLock lock(shadow_path);
  if (!lock.held())
    return absl::UnavailableError(
        "the password files stay locked (.pwd.lock): passwd, useradd or chpasswd is running");
  ASSIGN_OR_RETURN(std::string text, ReadFile(shadow_path));
  absl::StatusOr<ShadowLine> line = FindLine(shadow_path, text, login);
  if (line.ok() && LockedWithPassword(line->fields[1]))
    line = absl::FailedPreconditionError(
        StrCat(login, " is locked (passwd -l or usermod -L): a new password would unlock it; "
                      "unlock it first if Warden should own it"));
  if (!line.ok()) {
    OPENSSL_cleanse(text.data(), text.size());
    return line.status();
  }
  const std::string day = std::to_string(today);
  line->fields[1] = hash;
  line->fields[2] = day;
  std::string out = StrCat(std::string_view(text).substr(0, line->start), StrJoin(line->fields, ":"),
                           std::string_view(text).substr(line->start + line->length));
  OPENSSL_cleanse(text.data(), text.size());
  absl::Status st = ReplaceFile(shadow_path, out);
  OPENSSL_cleanse(out.data(), out.size());
  return st;
}

absl::Status CheckLocalPassword(const std::string& shadow_path, const std::string& service,
                                std::string_view login, const SecretBytes& password) {
  ASSIGN_OR_RETURN(SecretBytes terminated, Terminated(password));
  // Refused or not is decided by the hash: a PAM stack that lets root through (pam_rootok) or
  // denies for other reasons (an expired account, pam_faillock) cannot turn one into the other.
  {
    ASSIGN_OR_RETURN(std::string text, ReadFile(shadow_path));
    absl::StatusOr<ShadowLine> line = FindLine(shadow_path, text, login);
    std::string stored = line.ok() ? std::string(line->fields[1]) : "";
    OPENSSL_cleanse(text.data(), text.size());
    if (!line.ok())
      return absl::FailedPreconditionError(std::string(line.status().message()));
    if (LockedWithPassword(stored))
      return absl::PermissionDeniedError(StrCat("refused: ", login, " is locked (passwd -l)"));
    absl::StatusOr<std::string> computed =
        stored.empty() || stored[0] == '!' || stored[0] == '*' ? absl::StatusOr<std::string>("")
                                                                : Crypt(password, stored.c_str());
    const bool same = computed.ok() && computed->size() == stored.size() && !stored.empty() &&
                      CRYPTO_memcmp(computed->data(), stored.data(), stored.size()) == 0;
    if (!same)
      return absl::PermissionDeniedError(
          StrCat("refused: the password is not the one of ", login, " in ", shadow_path));
  }
  // The hash matches: would a login go through? PAM's own answer, authentication then account.
  Conversation data{&terminated};
  const struct pam_conv conv = {Converse, &data};
  pam_handle_t* pamh = nullptr;
  const std::string user(login);
  int rc = pam_start(service.c_str(), user.c_str(), &conv, &pamh);
  if (rc != PAM_SUCCESS)
    return absl::UnavailableError(StrCat("PAM service ", service, " cannot start"));
  pam_set_item(pamh, PAM_FAIL_DELAY, reinterpret_cast<const void*>(&NoFailDelay));
  const char* step = "authentication";
  rc = pam_authenticate(pamh, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
  if (rc == PAM_SUCCESS) {
    step = "account check";
    rc = pam_acct_mgmt(pamh, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    // The password logs in; the account would be asked to choose a new one (its password aged).
    if (rc == PAM_NEW_AUTHTOK_REQD) rc = PAM_SUCCESS;
  }
  const std::string why = StrCat("PAM service ", service, ", ", step, ": ", pam_strerror(pamh, rc));
  pam_end(pamh, rc);
  if (rc == PAM_SUCCESS) return absl::OkStatus();
  // Not a refusal of the password (that was decided above): the account cannot log in now
  // (expired, locked by faillock, denied by pam_access) or the stack is broken.
  return absl::FailedPreconditionError(
      StrCat("the password is ", login, "'s, but a login would fail: ", why));
}

absl::Status LocalPasswords::Run(const LocalPasswordTask& task, int64_t now_unix) const {
  if (std::find(allowed_.begin(), allowed_.end(), task.login) == allowed_.end())
    return absl::FailedPreconditionError(
        StrCat("this host does not let Warden rotate the password of ", task.login,
               ": its admins list the accounts Warden owns in host.yaml rotate_accounts"));
  if (task.kind == LocalPasswordTask::Kind::kSet)
    return SetShadowPassword(shadow_path_, task.login, task.password, now_unix / 86400);
  return CheckLocalPassword(shadow_path_, pam_service_, task.login, task.password);
}

}  // namespace warden
