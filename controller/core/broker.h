// The controller's half of the SSH broker (warden-sshgw, docs/ssh-gateway.md): for targets that
// cannot run wardend, an operator's OpenSSH client reaches the target through a gateway with the
// Warden certificate of an approved grant, and the gateway logs in to the target with the vaulted
// password, which the operator never sees.
//
// Open checks the certificate exactly as sshd on a host of the gateway's tier would: signed by
// a trusted user CA of that tier, a user certificate, inside its validity, naming the principal
// asked for, not in the KRL, the client's address inside its source-address, no critical option
// the gateway cannot enforce (force-command is enforced there). Then the grant behind it (its key
// id "user:grant:serial"): active, of a broker role naming the target, of the gateway's tier. The
// credential is read on the grant's authority (Vault::ReadForBroker: a check-out in the
// operator's name where the path checks out). Close checks it in and, where the path rotates
// after use, rotates it before returning. A revoked grant's open sessions are ended through their
// gateway's upload stream (RecordingArchive::EndLiveSession).
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "controller/core/access.h"
#include "controller/core/audit_log.h"
#include "controller/core/certificate_authority.h"
#include "controller/core/clock.h"
#include "controller/core/identity.h"
#include "controller/core/recordings.h"
#include "controller/core/rotation.h"
#include "controller/core/vault.h"

namespace warden {

struct BrokerOpen {
  Bytes certificate;  // the OpenSSH certificate blob the operator authenticated with
  std::string principal, target, client_address;
  bool check_only = false;  // the checks only: no session, no credential
  // Instead of a certificate (warden-rdpgw): a ticket of CreateTicket and its secret.
  std::string ticket;
  std::string ticket_secret;
};

// A one-time logon for an RDP gateway: the user name and password an operator types into any
// RDP client. Single use (tried once, right or wrong), bound to one grant, short-lived.
struct BrokerTicket {
  std::string id, secret, grant_id, target;
  int64_t expires = 0;
};
inline constexpr int64_t kTicketTtlSeconds = 120;

struct BrokeredSession {
  std::string session_id, grant_id, user, target;
  std::string account;  // the grant's login
  const RotationTargetPolicy* second_leg = nullptr;  // ssh: host, port, user (login), host_key
  const Role* role = nullptr;                        // rdp: its rdp_* fields are the second leg
  SecretBytes password;
  std::set<std::string> allow;
  std::string force_command;
  bool pty_allowed = false;
  std::string recording_input, recording_mode;
  int moderators_required = 0;
  std::string moderator_on_leave;
  int64_t moderator_wait = 0;
  int64_t expires = 0;
};

struct BrokerClose {
  bool checked_in = false;
  int64_t rotated_version = 0;
  std::string rotation_error;
};

class SshBroker {
 public:
  SshBroker(const Policy& policy, AccessCore& access, CertificateAuthority& ca, Vault& vault,
            CredentialRotation& rotation, RecordingArchive& recordings, AuditLog& audit,
            const Clock& clock);
  ~SshBroker();

  // `gateway`: the calling gateway (Identity::host_kind "gateway"); refused for a host.
  absl::StatusOr<BrokeredSession> Open(const Identity& gateway, const BrokerOpen& req);
  // A ticket for `user`'s own active grant of an RDP broker role.
  // `ttl`: 0 for kTicketTtlSeconds, else 1 to that.
  absl::StatusOr<BrokerTicket> CreateTicket(const std::string& user, const std::string& grant_id,
                                            int64_t ttl = 0);
  // Idempotent for a session already closed (NOT_FOUND for one never opened by `gateway`).
  absl::StatusOr<BrokerClose> Close(const Identity& gateway, std::string_view session_id);
  // Ends the open sessions whose grant is no longer active (a revocation): called on every
  // change of the grants (AccessCore::changes()). Returns how many were told to end.
  int EndRevoked();

 private:
  struct Open_ {
    std::string gateway, grant_id, user, path;
    int64_t expires = 0;  // the grant's end (or the certificate's)
  };
  struct Ticket_ {
    Bytes secret_sha256;
    std::string grant_id;
    int64_t expires = 0;
  };
  // The grant behind `req`'s certificate (checked) or ticket (taken); sets *expires to when the
  // credential it presents ends.
  absl::StatusOr<GrantView> Authenticate(const Identity& gateway, const BrokerOpen& req,
                                         Certificate* cert, int64_t* expires);
  // Whether `cert` (parsed from `blob`) would be accepted by sshd on a host of `tier`.
  // A credential of tier `credential_tier` tried at `gateway`, of another tier: the refusal
  // `why`, after an audit event (broker.cross_tier) that detection rules look for.
  absl::Status CrossTier(const Identity& gateway, std::string_view user, int credential_tier,
                         absl::Status why);
  absl::Status CheckCertificate(const Certificate& cert, ByteSpan blob, const Identity& gateway,
                                const BrokerOpen& req);

  const Policy& policy_;
  AccessCore& access_;
  CertificateAuthority& ca_;
  Vault& vault_;
  CredentialRotation& rotation_;
  RecordingArchive& recordings_;
  AuditLog& audit_;
  const Clock& clock_;
  uint64_t subscription_ = 0;
  std::mutex mu_;
  std::map<std::string, Open_> open_;  // by session id
  std::map<std::string, Ticket_> tickets_;  // not yet tried, by id
};

}  // namespace warden
