// The files sshd reads for certificate trust: TrustedUserCAKeys and RevokedKeys. sshd takes one
// path for each, so when `configure-host --merge` took over a site's own TrustedUserCAKeys or
// RevokedKeys, the file Warden points sshd at must carry both: the controller's CA keys followed
// by the site's, and one KRL holding the controller's revocations and the site's.
//
// Files in state_dir:
//   controller_trusted_user_ca_keys, controller_revoked_keys.krl  what the controller sent
//   site_trust.json          the site's files merged in (written by configure-host --merge)
//   site_trusted_user_ca_keys  the site's CA keys alone: warden-principals lets a certificate of
//                            the site's CA reach only accounts Warden does not manage
//   trusted_user_ca_keys, revoked_keys.krl  what sshd reads: the merge of the two above
//
// PROTOCOL.krl has one header followed by sections that "may appear multiple times", so two KRLs
// cannot be concatenated byte for byte; the merge parses both and writes one KRL with every
// section of each. sshd also accepts a text file of public keys as RevokedKeys; those keys
// become explicit-key revocations.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "daemon/config.h"

namespace warden {

struct SiteTrust {
  std::optional<std::string> ca_keys_file;  // the site's TrustedUserCAKeys (absolute path)
  std::optional<std::string> krl_file;      // the site's RevokedKeys (absolute path)
  bool empty() const { return !ca_keys_file && !krl_file; }
};

// Missing file = nothing merged.
absl::StatusOr<SiteTrust> LoadSiteTrust(const HostConfig& c);
// Writes site_trust.json, or removes it when `s` is empty.
absl::Status SaveSiteTrust(const HostConfig& c, const SiteTrust& s);

// Checks that the site's files can be merged: the CA file holds public keys, the revoked keys
// file is a KRL or a list of public keys. The error names the file and what is wrong.
absl::Status CheckSiteTrust(const SiteTrust& s);

// Stores what the controller sent; RefreshSshdTrustFiles then puts it in force.
absl::Status WriteControllerTrust(const HostConfig& c, const std::string& ca_keys,
                                  const std::string& krl);

// Rewrites trusted_user_ca_keys and revoked_keys.krl from the controller's copies and the site's
// files, each only when its content changes. Missing controller copies count as empty (no CA
// trusted, an empty KRL), so sshd never points at a missing RevokedKeys file, which would refuse
// every public key. When a site file cannot be read or parsed, the CA file is written without
// the site's CA keys (trusting less) and the KRL file keeps its previous content (a KRL without
// the site's revocations would let its revoked keys in); the error says which file is wrong.
absl::Status RefreshSshdTrustFiles(const HostConfig& c);

}  // namespace warden
