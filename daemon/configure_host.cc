#include "daemon/configure_host.h"

#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "common/files.h"
#include "common/strings.h"
#include "daemon/local_state.h"
#include "daemon/site_trust.h"
#include "daemon/sshd_config_scan.h"

namespace warden {
namespace {

constexpr std::string_view kBegin = "# BEGIN warden";
constexpr std::string_view kEnd = "# END warden";
constexpr std::string_view kTrustedCa = "TrustedUserCAKeys";
constexpr std::string_view kRevoked = "RevokedKeys";
constexpr std::string_view kPrincipalsCommand = "AuthorizedPrincipalsCommand";
constexpr std::string_view kPrincipalsFile = "AuthorizedPrincipalsFile";

// A file's mode, or 0644 when it does not exist.
int ModeOf(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : 0644;
}

bool Same(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Where the managed block is: [begin, end) in bytes, the END line's newline included.
struct Block {
  size_t begin = 0, end = 0;
};

absl::StatusOr<std::optional<Block>> FindManagedBlock(const std::string& path,
                                                      const std::string& text) {
  std::optional<Block> found;
  int begin_line = 0, first_line = 0;  // of the open block, of the first block
  size_t begin = 0, pos = 0;
  for (int n = 1; pos < text.size(); n++) {
    size_t eol = text.find('\n', pos);
    const size_t next = eol == std::string::npos ? text.size() : eol + 1;
    const size_t line_end = eol == std::string::npos ? text.size() : eol;
    const std::string_view line = StripSpaces(std::string_view(text).substr(pos, line_end - pos));
    if (line.substr(0, kBegin.size()) == kBegin) {
      if (first_line) {
        return absl::FailedPreconditionError(StrCat(
            path, ":", n, ": a second \"", kBegin, "\" (the first is at line ", first_line,
            "); keep one block of Warden's lines, delete the other by hand, then run "
            "configure-host again. Nothing was changed."));
      }
      begin_line = first_line = n;
      begin = pos;
    } else if (line == kEnd) {
      if (!begin_line) {
        return absl::FailedPreconditionError(
            StrCat(path, ":", n, ": \"", kEnd, "\" without a \"", kBegin, "\" before it; put the ",
                   "BEGIN line back above Warden's lines (or delete the END line), then run "
                   "configure-host again. Nothing was changed."));
      }
      found = Block{begin, next};
      begin_line = 0;
    }
    pos = next;
  }
  if (begin_line) {
    return absl::FailedPreconditionError(StrCat(
        path, ":", begin_line, ": \"", kBegin, "\" has no \"", kEnd, "\" after it, so where ",
        "Warden's block ends is unknown (configure-host never guesses, and never removes the ",
        "site's lines). Put the \"", kEnd, "\" line back after Warden's lines, or delete the ",
        "block by hand, then run configure-host again. Nothing was changed."));
  }
  return found;
}

// What configure-host did that --revert must undo and the files do not show:
// state_dir/configure-host.json.
struct Record {
  bool exists = false;
  std::vector<std::string> nsswitch_added;  // databases that got "warden"
};

std::string RecordPath(const HostConfig& c) { return c.StatePath("configure-host.json"); }
// Where configure-host kept whole copies of the files before it recorded its edits instead.
std::string OldBackupDir(const HostConfig& c) { return c.StatePath("configure-host-backup"); }

absl::StatusOr<Record> LoadRecord(const HostConfig& c) {
  Record r;
  if (auto text = ReadFile(RecordPath(c)); text.ok()) {
    nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object() || !j.contains("nsswitch_added") || !j["nsswitch_added"].is_array()) {
      return absl::DataLossError(RecordPath(c) + " is corrupt");
    }
    r.exists = true;
    for (const auto& db : j["nsswitch_added"]) {
      if (db != "passwd" && db != "group") return absl::DataLossError(RecordPath(c) + " is corrupt");
      r.nsswitch_added.push_back(db);
    }
    return r;
  }
  // A host configured by an older wardend: the copy of nsswitch.conf it kept tells which lines
  // lacked "warden" then.
  if (auto old = ReadFile(OldBackupDir(c) + "/nsswitch.conf"); old.ok()) {
    r.exists = true;
    EditNsswitch(*old, &r.nsswitch_added);
  } else if (access((OldBackupDir(c) + "/manifest.json").c_str(), F_OK) == 0) {
    r.exists = true;
  }
  return r;
}

absl::Status SaveRecord(const HostConfig& c, const Record& r) {
  nlohmann::json j = {{"nsswitch_added", r.nsswitch_added}};
  RETURN_IF_ERROR(WriteFileAtomic(RecordPath(c), j.dump(2) + "\n", 0600));
  std::error_code ec;
  std::filesystem::remove_all(OldBackupDir(c), ec);
  return absl::OkStatus();
}

// The site's own TrustedUserCAKeys / RevokedKeys / AuthorizedPrincipalsCommand lines that Warden's
// block would override. Returns the site files to merge, or refuses naming every such line.
absl::StatusOr<SiteTrust> SiteTrustFor(const ConfigureOptions& o, const std::string& sshd,
                                       const SiteTrust& merged_before) {
  ASSIGN_OR_RETURN(auto directives,
                   FindSshdDirectives(o.etc, sshd, {kTrustedCa, kRevoked, kPrincipalsCommand}));
  SiteTrust site;
  std::vector<std::string> problems;
  std::set<std::string> global_seen;
  for (const SshdDirective& d : directives) {
    const std::string_view kw = Same(d.keyword, kTrustedCa) ? kTrustedCa
                                : Same(d.keyword, kRevoked) ? kRevoked
                                                            : kPrincipalsCommand;
    // In the global section sshd keeps the first value: the later ones never counted.
    if (d.match_line == 0 && !global_seen.insert(std::string(kw)).second) continue;
    if (Same(d.value, "none")) continue;
    const std::string where = StrCat(d.file, ":", d.line, ": \"", d.keyword, " ", d.value, "\"");
    if (kw == kPrincipalsCommand) {
      problems.push_back(StrCat(
          where, ": sshd runs a single AuthorizedPrincipalsCommand and Warden's must decide which "
          "certificate principals are valid, so a site command cannot run beside it (--merge "
          "cannot combine two commands). Remove the line, or set it to none"));
      continue;
    }
    if (d.match_line != 0) {
      problems.push_back(StrCat(
          where, ": inside the block of \"Match\" at ", d.match_file, ":", d.match_line,
          " it replaces Warden's ", kw, " for the connections that Match selects, and --merge "
          "cannot combine a value that holds only for some connections. Move the line to the "
          "global section (then --merge keeps it in force beside Warden's) or remove it"));
      continue;
    }
    std::optional<std::string>& slot = kw == kTrustedCa ? site.ca_keys_file : site.krl_file;
    const std::optional<std::string>& before =
        kw == kTrustedCa ? merged_before.ca_keys_file : merged_before.krl_file;
    if (before && *before == d.value) {
      slot = d.value;  // merged by an earlier run
      continue;
    }
    if (!o.merge) {
      problems.push_back(StrCat(
          where, ": sshd keeps the first ", kw, " it reads and Warden's block comes first, so "
          "this line would silently stop counting",
          kw == kRevoked ? " (keys the site revoked would log in again)"
                         : " (certificates of the site's CA would stop working)",
          ". Run configure-host --merge to keep it in force beside Warden's, or remove it"));
      continue;
    }
    if (d.value.empty() || d.value[0] != '/' || d.value.find('%') != std::string::npos) {
      problems.push_back(StrCat(where, ": --merge needs an absolute path without % tokens"));
      continue;
    }
    slot = d.value;
  }
  if (!problems.empty()) {
    return absl::FailedPreconditionError(
        StrCat("refused: Warden's managed block would override the site's own sshd settings. "
               "Nothing was changed.\n  ", StrJoin(problems, "\n  ")));
  }
  return site;
}

// Writes `text` to `path` (keeping its mode) unless it already holds exactly that.
absl::Status Replace(const std::string& path, const std::string& old, const std::string& text) {
  if (old == text) return absl::OkStatus();
  return WriteFileAtomic(path, text, ModeOf(path));
}

struct Files {
  std::string nss, sshd, pam;
};

Files PathsUnder(const std::string& etc) {
  return {StrCat(etc, "/nsswitch.conf"), StrCat(etc, "/ssh/sshd_config"), StrCat(etc, "/pam.d/sshd")};
}

}  // namespace

std::string EditNsswitch(const std::string& text, std::vector<std::string>* added) {
  std::string out;
  for (std::string_view line : StrSplit(text, '\n', false)) {
    std::string l(line);
    for (const char* db : {"passwd", "group"}) {
      if (l.rfind(StrCat(db, ":"), 0) != 0 || l.find(" warden") != std::string::npos) continue;
      const size_t files = l.find(" files");
      if (files != std::string::npos &&
          (files + 6 == l.size() || l[files + 6] == ' ' || l[files + 6] == '\t')) {
        l.insert(files + 6, " warden");
      } else {
        l += " warden";
      }
      if (std::find(added->begin(), added->end(), db) == added->end()) added->push_back(db);
    }
    out += l + "\n";
  }
  if (!text.empty() && text.back() == '\n') out.pop_back();
  return out;
}

std::string UneditNsswitch(const std::string& text, const std::vector<std::string>& databases) {
  std::string out;
  for (std::string_view line : StrSplit(text, '\n', false)) {
    std::string l(line);
    for (const std::string& db : databases) {
      if (l.rfind(db + ":", 0) != 0) continue;
      for (size_t at = l.find(" warden"); at != std::string::npos; at = l.find(" warden", at + 1)) {
        if (at + 7 == l.size() || l[at + 7] == ' ' || l[at + 7] == '\t') {
          l.erase(at, 7);
          break;
        }
      }
    }
    out += l + "\n";
  }
  if (!text.empty() && text.back() == '\n') out.pop_back();
  return out;
}

absl::StatusOr<std::string> WithoutManagedBlock(const std::string& path, const std::string& text) {
  ASSIGN_OR_RETURN(std::optional<Block> b, FindManagedBlock(path, text));
  if (!b) return text;
  return text.substr(0, b->begin) + text.substr(b->end);
}

absl::StatusOr<std::string> WithManagedBlock(const std::string& path, const std::string& text,
                                             const std::string& block) {
  ASSIGN_OR_RETURN(std::string rest, WithoutManagedBlock(path, text));
  // At the top: sshd keeps the first value it reads for a keyword, and a block appended after a
  // Match line would only apply inside that Match.
  return StrCat(kBegin, ": written by `wardend configure-host`; undo with --revert\n", block,
                kEnd, "\n", rest);
}

absl::Status ConfigureHost(const HostConfig& c, const ConfigureOptions& o, std::ostream& out) {
  if (o.config_path.empty() || o.config_path[0] != '/') {
    return absl::InvalidArgumentError(StrCat(
        "the host config path \"", o.config_path, "\" is relative; sshd and PAM read it from ",
        "another working directory, so pass an absolute --config. Nothing was changed."));
  }
  const Files f = PathsUnder(o.etc);
  ASSIGN_OR_RETURN(const std::string nss_text, ReadFile(f.nss));
  ASSIGN_OR_RETURN(const std::string sshd_text, ReadFile(f.sshd));
  ASSIGN_OR_RETURN(const std::string pam_text, ReadFile(f.pam));

  // Every check first: a refusal leaves every file as it was.
  ASSIGN_OR_RETURN(SiteTrust merged_before, LoadSiteTrust(c));
  ASSIGN_OR_RETURN(SiteTrust site, SiteTrustFor(o, f.sshd, merged_before));
  if (absl::Status st = CheckSiteTrust(site); !st.ok()) {
    return absl::FailedPreconditionError(
        StrCat("refused: cannot merge the site's file: ", st.message(), ". Nothing was changed."));
  }
  std::string block = StrCat(kTrustedCa, " ", c.StatePath("trusted_user_ca_keys"), "\n",
                             kRevoked, " ", c.StatePath("revoked_keys.krl"), "\n");
  if (site.ca_keys_file) {
    // sshd trusts the site's CAs beside Warden's: only the principals command sees which CA
    // signed a certificate (%K), and keeps the site's CAs away from Warden's accounts.
    block += StrCat(kPrincipalsCommand, " ", o.principals_command, " --config ", o.config_path,
                    " --ca-key %K %u\n", "AuthorizedPrincipalsCommandUser ", c.principals_user,
                    "\n");
  } else {
    // Only Warden's CAs are trusted: the files wardend keeps (one per live account) say the
    // same as the command would, without a fork and an exec per certificate offered.
    block += StrCat(kPrincipalsFile, " ", PrincipalsDir(c), "/%u\n");
  }
  if (access(c.StatePath("ssh_host_key-cert.pub").c_str(), F_OK) == 0) {
    block += StrCat("HostCertificate ", c.StatePath("ssh_host_key-cert.pub"), "\n");
  }
  ASSIGN_OR_RETURN(const std::string sshd_new, WithManagedBlock(f.sshd, sshd_text, block));
  const std::string arg = o.config_path == kDefaultHostConfig ? "" : " config=" + o.config_path;
  const std::string pam_block = StrCat("account    requisite  ", o.pam_module, arg, "\n",
                                       "session    required   ", o.pam_module, arg, "\n");
  ASSIGN_OR_RETURN(const std::string pam_new, WithManagedBlock(f.pam, pam_text, pam_block));
  ASSIGN_OR_RETURN(Record record, LoadRecord(c));
  std::vector<std::string> added = record.nsswitch_added;
  const std::string nss_new = EditNsswitch(nss_text, &added);

  mkdir(c.state_dir.c_str(), 0755);
  RETURN_IF_ERROR(SaveRecord(c, {true, added}));
  // The files sshd will read exist (an absent RevokedKeys file refuses every public key) and
  // carry the merged site files before sshd_config points at them.
  RETURN_IF_ERROR(SaveSiteTrust(c, site));
  RETURN_IF_ERROR(RefreshSshdTrustFiles(c));
  if (site.ca_keys_file) out << "merged the site's CA keys " << *site.ca_keys_file << "\n";
  if (site.krl_file) out << "merged the site's revoked keys " << *site.krl_file << "\n";

  RETURN_IF_ERROR(Replace(f.nss, nss_text, nss_new));
  out << "configured " << f.nss << " (passwd, group: files warden)\n";
  RETURN_IF_ERROR(Replace(f.sshd, sshd_text, sshd_new));
  out << "configured " << f.sshd << " (TrustedUserCAKeys, RevokedKeys, "
      << (site.ca_keys_file ? kPrincipalsCommand : kPrincipalsFile) << ")\n";
  RETURN_IF_ERROR(Replace(f.pam, pam_text, pam_new));
  out << "configured " << f.pam << " (account and session through pam_warden)\n"
      << "reload sshd to apply: systemctl reload ssh\n";
  return absl::OkStatus();
}

absl::Status RevertHost(const HostConfig& c, const ConfigureOptions& o, std::ostream& out) {
  const Files f = PathsUnder(o.etc);
  ASSIGN_OR_RETURN(const std::string nss_text, ReadFile(f.nss));
  ASSIGN_OR_RETURN(const std::string sshd_text, ReadFile(f.sshd));
  ASSIGN_OR_RETURN(const std::string pam_text, ReadFile(f.pam));
  ASSIGN_OR_RETURN(const std::string sshd_new, WithoutManagedBlock(f.sshd, sshd_text));
  ASSIGN_OR_RETURN(const std::string pam_new, WithoutManagedBlock(f.pam, pam_text));
  ASSIGN_OR_RETURN(Record record, LoadRecord(c));
  if (!record.exists && sshd_new == sshd_text && pam_new == pam_text) {
    return absl::FailedPreconditionError(
        StrCat("configure-host has not been run on this host: no ", RecordPath(c),
               " and no Warden block in ", f.sshd, " or ", f.pam));
  }
  const std::string nss_new = UneditNsswitch(nss_text, record.nsswitch_added);
  // PAM first: once pam_warden is out, nothing depends on wardend any more.
  RETURN_IF_ERROR(Replace(f.pam, pam_text, pam_new));
  out << "removed Warden's block from " << f.pam << "\n";
  RETURN_IF_ERROR(Replace(f.sshd, sshd_text, sshd_new));
  out << "removed Warden's block from " << f.sshd << "\n";
  RETURN_IF_ERROR(Replace(f.nss, nss_text, nss_new));
  out << "removed warden from " << f.nss << "\n";
  RETURN_IF_ERROR(SaveSiteTrust(c, SiteTrust{}));
  if (unlink(RecordPath(c).c_str()) != 0 && errno != ENOENT) {
    return absl::UnavailableError(StrCat("cannot remove ", RecordPath(c), ": ", strerror(errno)));
  }
  std::error_code ec;
  std::filesystem::remove_all(OldBackupDir(c), ec);
  out << "reload sshd to apply: systemctl reload ssh\n";
  return absl::OkStatus();
}

}  // namespace warden
