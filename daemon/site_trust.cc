#include "daemon/site_trust.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/krl.h"
#include "common/sshkey.h"
#include "common/strings.h"

namespace warden {
namespace {

constexpr std::string_view kKrlMagic("SSHKRL\n\0", 8);

std::string Path(const HostConfig& c, std::string_view name) { return c.StatePath(name); }

// The lines of a key list that carry a key: not blank, not a comment.
template <typename F>
absl::Status ForEachKeyLine(const std::string& path, const std::string& text, F f) {
  int n = 0;
  for (std::string_view line : StrSplit(text, '\n', false)) {
    n++;
    line = StripSpaces(line);
    if (line.empty() || line[0] == '#') continue;
    auto key = ParseAuthorizedKey(line, nullptr);
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          StrCat(path, ":", n, ": ", key.status().message(), " (expected one public key a line)"));
    }
    RETURN_IF_ERROR(f(*key));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SiteCaKeys(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    return absl::FailedPreconditionError(
        StrCat("cannot read the site's TrustedUserCAKeys ", path, ": ", text.status().message()));
  }
  RETURN_IF_ERROR(ForEachKeyLine(path, *text, [](const PublicKey&) { return absl::OkStatus(); }));
  return *text;
}

// The site's RevokedKeys as a KRL: a KRL file as it is, a key list as explicit keys.
absl::StatusOr<Krl> SiteKrl(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    return absl::FailedPreconditionError(
        StrCat("cannot read the site's RevokedKeys ", path, ": ", text.status().message()));
  }
  if (std::string_view(*text).substr(0, kKrlMagic.size()) == kKrlMagic) {
    auto krl = ParseKrl(AsBytes(*text));
    if (!krl.ok()) {
      return absl::InvalidArgumentError(
          StrCat("the site's RevokedKeys ", path, " is not a valid KRL: ", krl.status().message()));
    }
    return krl;
  }
  Krl krl;
  RETURN_IF_ERROR(ForEachKeyLine(path, *text, [&krl](const PublicKey& k) {
    krl.explicit_keys.insert(k.blob);
    return absl::OkStatus();
  }));
  return krl;
}

// Replaces `path` with `text` unless it already holds exactly that.
absl::Status WriteIfChanged(const std::string& path, const std::string& text) {
  auto old = ReadFile(path);
  if (old.ok() && *old == text) return absl::OkStatus();
  return WriteFileAtomic(path, text, 0644);
}

// The controller's copy `copy`, made on the first call: hosts that ran an older wardend have
// only the sshd-facing file, which then holds exactly what the controller sent, and becomes the
// copy; elsewhere the copy starts empty. From then on the sshd-facing file (which may carry the
// site's keys) is never read back.
absl::StatusOr<std::string> ControllerCopy(const HostConfig& c, std::string_view copy,
                                           std::string_view facing) {
  if (auto text = ReadFile(Path(c, copy)); text.ok()) return *text;
  auto old = ReadFile(Path(c, facing));
  const std::string text = old.ok() ? *old : "";
  RETURN_IF_ERROR(WriteFileAtomic(Path(c, copy), text, 0644));
  return text;
}

}  // namespace

absl::StatusOr<SiteTrust> LoadSiteTrust(const HostConfig& c) {
  const std::string path = Path(c, "site_trust.json");
  auto text = ReadFile(path);
  if (!text.ok()) return SiteTrust{};
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) return absl::DataLossError(StrCat(path, " is corrupt; run configure-host again"));
  SiteTrust s;
  for (auto [key, field] : {std::pair{"trusted_user_ca_keys", &s.ca_keys_file},
                            std::pair{"revoked_keys", &s.krl_file}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_string() || j[key].get<std::string>().empty() ||
        j[key].get<std::string>()[0] != '/') {
      return absl::DataLossError(StrCat(path, ": \"", key, "\" is not an absolute path"));
    }
    *field = j[key].get<std::string>();
  }
  return s;
}

absl::Status SaveSiteTrust(const HostConfig& c, const SiteTrust& s) {
  const std::string path = Path(c, "site_trust.json");
  if (s.empty()) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return absl::UnavailableError(StrCat("cannot remove ", path, ": ", strerror(errno)));
    }
    return absl::OkStatus();
  }
  nlohmann::json j = nlohmann::json::object();
  if (s.ca_keys_file) j["trusted_user_ca_keys"] = *s.ca_keys_file;
  if (s.krl_file) j["revoked_keys"] = *s.krl_file;
  return WriteFileAtomic(path, j.dump(2) + "\n", 0644);
}

absl::Status CheckSiteTrust(const SiteTrust& s) {
  if (s.ca_keys_file) RETURN_IF_ERROR(SiteCaKeys(*s.ca_keys_file).status());
  if (s.krl_file) RETURN_IF_ERROR(SiteKrl(*s.krl_file).status());
  return absl::OkStatus();
}

absl::Status WriteControllerTrust(const HostConfig& c, const std::string& ca_keys,
                                  const std::string& krl) {
  RETURN_IF_ERROR(WriteFileAtomic(Path(c, "controller_trusted_user_ca_keys"), ca_keys, 0644));
  return WriteFileAtomic(Path(c, "controller_revoked_keys.krl"), krl, 0644);
}

absl::Status RefreshSshdTrustFiles(const HostConfig& c) {
  ASSIGN_OR_RETURN(SiteTrust site, LoadSiteTrust(c));
  ASSIGN_OR_RETURN(std::string ca,
                   ControllerCopy(c, "controller_trusted_user_ca_keys", "trusted_user_ca_keys"));
  ASSIGN_OR_RETURN(const std::string krl_bytes,
                   ControllerCopy(c, "controller_revoked_keys.krl", "revoked_keys.krl"));
  absl::Status problem = absl::OkStatus();

  std::string site_cas;
  if (site.ca_keys_file) {
    auto keys = SiteCaKeys(*site.ca_keys_file);
    if (keys.ok()) {
      site_cas = *keys;
      if (!ca.empty() && ca.back() != '\n') ca += '\n';
      StrAppend(&ca, "# the site's own CA keys, from ", *site.ca_keys_file,
                " (wardend configure-host --merge)\n", *keys);
      if (!keys->empty() && keys->back() != '\n') ca += '\n';
    } else {
      problem = keys.status();
    }
  }
  // warden-principals tells the site's CAs from Warden's by these two files: the site's first,
  // so that no key of the site's is in the sshd-facing file before it is known as the site's.
  RETURN_IF_ERROR(WriteIfChanged(Path(c, "site_trusted_user_ca_keys"), site_cas));
  RETURN_IF_ERROR(WriteIfChanged(Path(c, "trusted_user_ca_keys"), ca));

  std::string krl_out = krl_bytes;
  if (site.krl_file) {
    Krl merged;
    if (!krl_bytes.empty()) {
      auto ours = ParseKrl(AsBytes(krl_bytes));
      if (!ours.ok()) {
        return absl::DataLossError(StrCat("the controller's KRL cannot be parsed (",
                                          ours.status().message(), "); ",
                                          Path(c, "revoked_keys.krl"), " is left as it was"));
      }
      merged = std::move(*ours);
    }
    auto theirs = SiteKrl(*site.krl_file);
    if (!theirs.ok()) {
      return absl::FailedPreconditionError(
          StrCat(theirs.status().message(), "; ", Path(c, "revoked_keys.krl"),
                 " keeps its previous content until the file is fixed"));
    }
    for (auto& sec : theirs->cert_sections) merged.cert_sections.push_back(std::move(sec));
    merged.explicit_keys.merge(theirs->explicit_keys);
    merged.sha1_fingerprints.merge(theirs->sha1_fingerprints);
    merged.sha256_fingerprints.merge(theirs->sha256_fingerprints);
    const Bytes out = EncodeKrl(merged);
    krl_out.assign(out.begin(), out.end());
  } else if (krl_bytes.empty()) {
    const Bytes out = EncodeKrl(Krl{});
    krl_out.assign(out.begin(), out.end());
  }
  RETURN_IF_ERROR(WriteIfChanged(Path(c, "revoked_keys.krl"), krl_out));
  return problem;
}

}  // namespace warden
