#include "daemon/local_password.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <security/pam_appl.h>
#include <shadow.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "common/files.h"
#include "common/strings.h"

namespace warden {
namespace {

// lckpwdf()'s lock, released when this goes out of scope.
class PasswordFilesLock {
 public:
  PasswordFilesLock() : held_(lckpwdf() == 0) {}
  ~PasswordFilesLock() {
    if (held_) ulckpwdf();
  }
  bool held() const { return held_; }

 private:
  const bool held_;
};

// A crypt(3) hash of `password` with a fresh salt of libxcrypt's preferred method.
absl::StatusOr<std::string> HashPassword(const SecretBytes& password) {
  if (std::find(password.data(), password.data() + password.size(), 0) != password.data() + password.size())
    return absl::InvalidArgumentError("a password with a NUL byte cannot be a local password");
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn(nullptr, 0, nullptr, 0, salt, sizeof salt))
    return absl::InternalError(StrCat("crypt_gensalt: ", strerror(errno)));
  auto data = std::make_unique<crypt_data>();
  SecretBytes terminated(password.size() + 1);
  std::copy(password.data(), password.data() + password.size(), terminated.data());
  terminated.data()[password.size()] = 0;
  const char* hash = crypt_rn(reinterpret_cast<const char*>(terminated.data()), salt, data.get(),
                              sizeof *data);
  std::string out = hash && hash[0] != '*' ? hash : "";
  OPENSSL_cleanse(data.get(), sizeof *data);
  if (out.empty() || out.find_first_of(":\n") != std::string::npos)
    return absl::InternalError("crypt gave no usable hash");
  return out;
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
  const SecretBytes* password;
};

// Answers the password prompt (echo off) with the password; messages need no answer; any other
// question (a prompt with echo, a new password) is not one a check answers.
int Converse(int n, const struct pam_message** msg, struct pam_response** resp, void* appdata) {
  if (n <= 0 || n > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
  const SecretBytes& pw = *static_cast<Conversation*>(appdata)->password;
  auto* out = static_cast<pam_response*>(calloc(static_cast<size_t>(n), sizeof(pam_response)));
  if (!out) return PAM_BUF_ERR;
  for (int i = 0; i < n; i++) {
    const int style = msg[i]->msg_style;
    if (style == PAM_ERROR_MSG || style == PAM_TEXT_INFO) continue;
    if (style == PAM_PROMPT_ECHO_OFF) {
      out[i].resp = strndup(reinterpret_cast<const char*>(pw.data()), pw.size());
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
  ASSIGN_OR_RETURN(std::string hash, HashPassword(password));
  PasswordFilesLock lock;
  if (!lock.held())
    return absl::UnavailableError(
        "the password files stay locked (lckpwdf): passwd, useradd or chpasswd is running");
  ASSIGN_OR_RETURN(std::string text, ReadFile(shadow_path));
  const std::string prefix = StrCat(login, ":");
  std::string out;
  out.reserve(text.size() + hash.size());
  bool found = false;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    if (!found && line.substr(0, prefix.size()) == prefix) {
      // name:password:lastchg:min:max:warn:inactive:expire:reserved (shadow(5))
      std::vector<std::string_view> fields;
      for (size_t p = 0;;) {
        const size_t colon = line.find(':', p);
        fields.push_back(line.substr(p, colon == std::string_view::npos ? colon : colon - p));
        if (colon == std::string_view::npos) break;
        p = colon + 1;
      }
      if (fields.size() != 9)
        return absl::DataLossError(StrCat(shadow_path, ": the line of ", login, " has ",
                                          fields.size(), " fields, not 9; left as it is"));
      const std::string day = std::to_string(today);
      fields[1] = hash;
      fields[2] = day;
      out += StrJoin(fields, ":");
      found = true;
    } else {
      out += line;
    }
    if (end < text.size()) out += '\n';
    start = end + 1;
  }
  OPENSSL_cleanse(text.data(), text.size());
  if (!found) return absl::NotFoundError(StrCat(login, " has no line in ", shadow_path));
  absl::Status st = ReplaceFile(shadow_path, out);
  OPENSSL_cleanse(out.data(), out.size());
  return st;
}

absl::Status CheckPamPassword(const std::string& service, std::string_view login,
                              const SecretBytes& password) {
  Conversation data{&password};
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
  switch (rc) {
    case PAM_SUCCESS:
      return absl::OkStatus();
    case PAM_AUTH_ERR:
    case PAM_PERM_DENIED:
    case PAM_ACCT_EXPIRED:
    case PAM_MAXTRIES:
    case PAM_CRED_INSUFFICIENT:
      return absl::PermissionDeniedError(StrCat("refused: ", why));
    case PAM_USER_UNKNOWN:
      return absl::NotFoundError(StrCat("no local account ", login, " (", why, ")"));
    default:
      return absl::UnavailableError(why);
  }
}

absl::Status LocalPasswords::Run(const LocalPasswordTask& task, int64_t now_unix) const {
  if (std::find(allowed_.begin(), allowed_.end(), task.login) == allowed_.end())
    return absl::FailedPreconditionError(
        StrCat("this host does not let Warden rotate the password of ", task.login,
               ": its admins list the accounts Warden owns in host.yaml rotate_accounts"));
  if (task.kind == LocalPasswordTask::Kind::kSet)
    return SetShadowPassword(shadow_path_, task.login, task.password, now_unix / 86400);
  return CheckPamPassword(pam_service_, task.login, task.password);
}

}  // namespace warden
