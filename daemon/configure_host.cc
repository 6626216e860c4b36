#include "daemon/configure_host.h"

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/strings.h"

namespace warden {
namespace {

constexpr std::string_view kBegin = "# BEGIN warden";
constexpr std::string_view kEnd = "# END warden";

struct Target {
  const char* key;   // name in the backup
  const char* path;  // relative to etc
};
constexpr Target kTargets[] = {{"nsswitch.conf", "nsswitch.conf"},
                               {"sshd_config", "ssh/sshd_config"},
                               {"pam.d-sshd", "pam.d/sshd"}};

std::string BackupDir(const HostConfig& c) { return c.StatePath("configure-host-backup"); }

// A file's mode, or 0644 when it does not exist.
int ModeOf(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : 0644;
}

}  // namespace

std::string EditNsswitch(const std::string& text) {
  std::string out;
  for (std::string_view line : StrSplit(text, '\n', false)) {
    std::string l(line);
    const bool db = l.rfind("passwd:", 0) == 0 || l.rfind("group:", 0) == 0;
    if (db && l.find(" warden") == std::string::npos) {
      const size_t files = l.find(" files");
      if (files != std::string::npos &&
          (files + 6 == l.size() || l[files + 6] == ' ' || l[files + 6] == '\t')) {
        l.insert(files + 6, " warden");
      } else {
        l += " warden";
      }
    }
    out += l + "\n";
  }
  if (!text.empty() && text.back() == '\n') out.pop_back();
  return out;
}

std::string WithManagedBlock(const std::string& text, const std::string& block) {
  std::string rest = text;
  const size_t b = rest.find(kBegin);
  if (b != std::string::npos) {
    size_t e = rest.find(kEnd, b);
    e = e == std::string::npos ? rest.size() : rest.find('\n', e);
    rest.erase(b, e == std::string::npos ? std::string::npos : e + 1 - b);
  }
  // At the top: sshd keeps the first value it reads for a keyword, and a block appended after a
  // Match line would only apply inside that Match.
  return StrCat(kBegin, ": written by `wardend configure-host`; undo with --revert\n", block,
                kEnd, "\n", rest);
}

absl::Status ConfigureHost(const HostConfig& c, const ConfigureOptions& o, std::ostream& out) {
  const std::string dir = BackupDir(c);
  mkdir(c.state_dir.c_str(), 0755);
  if (access((dir + "/manifest.json").c_str(), F_OK) != 0) {
    // First run: keep the exact bytes (or the absence) of every file we will touch.
    mkdir(dir.c_str(), 0700);
    nlohmann::json manifest = nlohmann::json::object();
    for (const auto& t : kTargets) {
      auto text = ReadFile(StrCat(o.etc, "/", t.path));
      manifest[t.key] = {{"existed", text.ok()}, {"mode", ModeOf(StrCat(o.etc, "/", t.path))}};
      if (text.ok()) RETURN_IF_ERROR(WriteFileAtomic(StrCat(dir, "/", t.key), *text, 0600));
    }
    RETURN_IF_ERROR(WriteFileAtomic(dir + "/manifest.json", manifest.dump(2) + "\n", 0600));
    out << "backup of the original files: " << dir << "\n";
  }

  const std::string nss = StrCat(o.etc, "/nsswitch.conf");
  ASSIGN_OR_RETURN(std::string nss_text, ReadFile(nss));
  RETURN_IF_ERROR(WriteFileAtomic(nss, EditNsswitch(nss_text), ModeOf(nss)));
  out << "configured " << nss << " (passwd, group: files warden)\n";

  const std::string sshd = StrCat(o.etc, "/ssh/sshd_config");
  ASSIGN_OR_RETURN(std::string sshd_text, ReadFile(sshd));
  std::string block = StrCat("TrustedUserCAKeys ", c.StatePath("trusted_user_ca_keys"), "\n",
                             "RevokedKeys ", c.StatePath("revoked_keys.krl"), "\n",
                             "AuthorizedPrincipalsCommand ", o.principals_command, " --config ",
                             o.config_path, " %u\n",
                             "AuthorizedPrincipalsCommandUser ", c.principals_user, "\n");
  if (access(c.StatePath("ssh_host_key-cert.pub").c_str(), F_OK) == 0) {
    block += StrCat("HostCertificate ", c.StatePath("ssh_host_key-cert.pub"), "\n");
  }
  RETURN_IF_ERROR(WriteFileAtomic(sshd, WithManagedBlock(sshd_text, block), ModeOf(sshd)));
  out << "configured " << sshd << " (TrustedUserCAKeys, RevokedKeys, AuthorizedPrincipalsCommand)\n";

  const std::string pam = StrCat(o.etc, "/pam.d/sshd");
  ASSIGN_OR_RETURN(std::string pam_text, ReadFile(pam));
  const std::string arg = o.config_path == kDefaultHostConfig ? "" : " config=" + o.config_path;
  const std::string pam_block = StrCat("account    requisite  ", o.pam_module, arg, "\n",
                                       "session    required   ", o.pam_module, arg, "\n");
  RETURN_IF_ERROR(WriteFileAtomic(pam, WithManagedBlock(pam_text, pam_block), ModeOf(pam)));
  out << "configured " << pam << " (account and session through pam_warden)\n"
      << "reload sshd to apply: systemctl reload ssh\n";
  return absl::OkStatus();
}

absl::Status RevertHost(const HostConfig& c, const ConfigureOptions& o, std::ostream& out) {
  const std::string dir = BackupDir(c);
  auto manifest_text = ReadFile(dir + "/manifest.json");
  if (!manifest_text.ok()) {
    return absl::FailedPreconditionError(
        StrCat("no backup in ", dir, "; configure-host has not been run on this host"));
  }
  nlohmann::json manifest = nlohmann::json::parse(*manifest_text, nullptr, false);
  if (manifest.is_discarded()) return absl::DataLossError(dir + "/manifest.json is corrupt");
  for (const auto& t : kTargets) {
    const std::string path = StrCat(o.etc, "/", t.path);
    if (!manifest.contains(t.key)) continue;
    if (manifest[t.key].value("existed", false)) {
      ASSIGN_OR_RETURN(std::string text, ReadFile(StrCat(dir, "/", t.key)));
      RETURN_IF_ERROR(WriteFileAtomic(path, text, manifest[t.key].value("mode", 0644)));
    } else {
      unlink(path.c_str());
    }
    unlink(StrCat(dir, "/", t.key).c_str());
    out << "restored " << path << "\n";
  }
  unlink((dir + "/manifest.json").c_str());
  rmdir(dir.c_str());
  return absl::OkStatus();
}

}  // namespace warden
