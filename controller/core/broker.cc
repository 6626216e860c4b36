#include "controller/core/broker.h"

#include <openssl/crypto.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <thread>

#include "common/crypto.h"
#include "common/krl.h"
#include "common/sshcert.h"
#include "common/strings.h"
#include "common/totp.h"
#include "controller/store/types.h"

namespace warden {
namespace {

constexpr size_t kMaxPrincipalBytes = 256;
constexpr size_t kMaxTargetBytes = 64;

// "user:grant:serial" -> the grant id, if the key id has that shape and names `serial`.
std::string GrantOfKeyId(const std::string& key_id, uint64_t serial, std::string* user) {
  const size_t a = key_id.find(':');
  const size_t b = a == std::string::npos ? a : key_id.find(':', a + 1);
  if (b == std::string::npos || key_id.substr(b + 1) != std::to_string(serial)) return "";
  *user = key_id.substr(0, a);
  return key_id.substr(a + 1, b - a - 1);
}

}  // namespace

SshBroker::SshBroker(const Policy& policy, AccessCore& access, CertificateAuthority& ca,
                     Vault& vault, CredentialRotation& rotation, RecordingArchive& recordings,
                     AuditLog& audit, const Clock& clock)
    : policy_(policy), access_(access), ca_(ca), vault_(vault), rotation_(rotation),
      recordings_(recordings), audit_(audit), clock_(clock) {
  subscription_ = access_.changes().Subscribe([this] { EndRevoked(); });
}

SshBroker::~SshBroker() { access_.changes().Unsubscribe(subscription_); }

absl::Status SshBroker::CrossTier(const Identity& gateway, std::string_view user,
                                  int credential_tier, absl::Status why) {
  RETURN_IF_ERROR(audit_.Append({{"event", "broker.cross_tier"},
                                 {"user", user},
                                 {"gateway", gateway.host_id},
                                 {"gateway_tier", gateway.tier},
                                 {"credential_tier", credential_tier},
                                 {"reason", why.message()}})
                      .status());
  return why;
}

absl::Status SshBroker::CheckCertificate(const Certificate& cert, ByteSpan blob,
                                         const Identity& gateway, const BrokerOpen& req) {
  if (cert.type != kUserCert) return absl::PermissionDeniedError("not a user certificate");
  // The tier whose user CA signed it, if any.
  int signer = -1;
  for (int t = 0; t <= kMaxTier && signer < 0; t++) {
    ASSIGN_OR_RETURN(std::vector<CaKeyRow> cas, ca_.TrustedKeys("user", t));
    for (const CaKeyRow& k : cas)
      if (k.public_key == cert.signature_key) signer = t;
  }
  if (signer != gateway.tier) {
    const int tier = gateway.tier;
    absl::Status why = absl::PermissionDeniedError(
        StrCat("the certificate is not signed by a user CA of tier ", tier,
               " (this gateway's tier): request a grant of a tier-", tier, " broker role"));
    if (signer < 0) return why;
    // Another tier's certificate, really signed by it: worth an alert, unlike a forgery.
    RETURN_IF_ERROR(VerifyCertificate(cert, blob));
    std::string user;
    GrantOfKeyId(cert.key_id, cert.serial, &user);
    return CrossTier(gateway, user, signer, why);
  }
  RETURN_IF_ERROR(VerifyCertificate(cert, blob));
  const uint64_t now = static_cast<uint64_t>(clock_.Now());
  if (now < cert.valid_after) return absl::PermissionDeniedError("the certificate is not valid yet");
  if (now >= cert.valid_before)
    return absl::PermissionDeniedError(StrCat("the certificate expired at ",
                                              UtcText(static_cast<int64_t>(cert.valid_before)),
                                              ": sign a new one (wardenctl cert sign)"));
  if (std::find(cert.principals.begin(), cert.principals.end(), req.principal) ==
      cert.principals.end())
    return absl::PermissionDeniedError(StrCat("the certificate does not name \"", req.principal,
                                              "\" among its principals (",
                                              StrJoin(cert.principals, ", "), ")"));
  ASSIGN_OR_RETURN(KrlSnapshot krl_blob, ca_.CurrentKrl());
  ASSIGN_OR_RETURN(Krl krl, ParseKrl(krl_blob.blob));
  if (KrlRevokesCertificate(krl, cert))
    return absl::PermissionDeniedError("the certificate is revoked (its grant was revoked)");
  for (const auto& [name, value] : cert.critical_options) {
    if (name == "force-command") continue;  // enforced by the gateway
    if (name != "source-address")
      return absl::PermissionDeniedError(StrCat("the certificate has the critical option \"",
                                                name, "\", which this gateway cannot enforce"));
    absl::StatusOr<Cidr> from = ParseCidr(req.client_address);
    bool inside = false;
    for (std::string_view block : StrSplit(value, ',', true)) {
      absl::StatusOr<Cidr> c = ParseCidr(block);
      inside = inside || (c.ok() && from.ok() && CidrContains(*c, *from));
    }
    if (!inside)
      return absl::PermissionDeniedError(StrCat("the certificate is valid only from ", value,
                                                ", not from ", req.client_address));
  }
  return absl::OkStatus();
}

absl::StatusOr<BrokerTicket> SshBroker::CreateTicket(const std::string& user,
                                                    const std::string& grant_id, int64_t ttl) {
  if (ttl < 0 || ttl > kTicketTtlSeconds)
    return absl::InvalidArgumentError(StrCat("a ticket lives 1 to ", kTicketTtlSeconds, " seconds"));
  if (ttl == 0) ttl = kTicketTtlSeconds;
  ASSIGN_OR_RETURN(GrantView g, access_.GetGrant(grant_id));
  if (g.row.user != user) return absl::PermissionDeniedError(StrCat("grant ", grant_id, " is not yours"));
  if (g.state != "active")
    return absl::FailedPreconditionError(StrCat("grant ", grant_id, " is ", g.state));
  ASSIGN_OR_RETURN(const Role* role, policy_.FindRole(g.row.role));
  if (role->broker_protocol != "rdp")
    return absl::FailedPreconditionError(StrCat("role ", role->name, " is not brokered by RDP "
                                                "gateways (broker.protocol: rdp)"));
  BrokerTicket t;
  t.id = StrCat("wt-", RandomId(16));
  t.secret = RandomId(24);
  t.grant_id = grant_id;
  t.target = role->broker_target;
  t.expires = std::min<int64_t>(clock_.Now() + ttl, g.row.end);
  RETURN_IF_ERROR(audit_.Append({{"event", "broker.ticket"}, {"user", user}, {"grant", grant_id},
                                 {"ticket", t.id}, {"target", t.target}})
                      .status());
  std::lock_guard lock(mu_);
  const int64_t now = clock_.Now();
  std::erase_if(tickets_, [now](const auto& e) { return e.second.expires <= now; });
  tickets_[t.id] = {Sha256(AsBytes(t.secret)), grant_id, t.expires};
  return t;
}

absl::StatusOr<GrantView> SshBroker::Authenticate(const Identity& gateway, const BrokerOpen& req,
                                                  Certificate* cert, int64_t* expires) {
  if (!req.ticket.empty()) {
    Ticket_ t;
    {
      std::lock_guard lock(mu_);
      auto it = tickets_.find(req.ticket);
      if (it == tickets_.end())
        return absl::PermissionDeniedError(StrCat("ticket ", req.ticket, " is unknown or was used "
                                                  "already: get a new one (wardenctl rdp ticket)"));
      t = it->second;
      tickets_.erase(it);  // tried once, right or wrong
    }
    if (!ConstantTimeEquals(Sha256(AsBytes(req.ticket_secret)), t.secret_sha256))
      return absl::PermissionDeniedError(StrCat("wrong secret for ticket ", req.ticket,
                                                " (it is used up: get a new one)"));
    if (clock_.Now() >= t.expires)
      return absl::PermissionDeniedError(StrCat("ticket ", req.ticket, " expired at ",
                                                UtcText(t.expires), ": get a new one"));
    ASSIGN_OR_RETURN(GrantView g, access_.GetGrant(t.grant_id));
    *expires = g.row.end;
    return g;
  }
  if (req.principal.empty() || req.principal.size() > kMaxPrincipalBytes)
    return absl::InvalidArgumentError("the user name must be LOGIN@TARGET (or LOGIN)");
  if (req.certificate.size() > kMaxCertBytes)
    return absl::InvalidArgumentError("the certificate is larger than any Warden issues");
  ASSIGN_OR_RETURN(*cert, ParseCertificate(req.certificate));
  RETURN_IF_ERROR(CheckCertificate(*cert, req.certificate, gateway, req));
  std::string key_user;
  const std::string grant_id = GrantOfKeyId(cert->key_id, cert->serial, &key_user);
  if (grant_id.empty())
    return absl::PermissionDeniedError("the certificate was not issued under a Warden grant");
  ASSIGN_OR_RETURN(GrantView g, access_.GetGrant(grant_id));
  if (g.row.user != key_user || g.row.login != req.principal)
    return absl::PermissionDeniedError(StrCat("the certificate does not match grant ", grant_id));
  *expires = std::min<int64_t>(g.row.end, static_cast<int64_t>(cert->valid_before));
  return g;
}

absl::StatusOr<BrokeredSession> SshBroker::Open(const Identity& gateway, const BrokerOpen& req) {
  if (gateway.host_kind != kGatewayKind)
    return absl::PermissionDeniedError("brokered sessions are opened by gateways (warden-sshgw)");
  if (req.target.size() > kMaxTargetBytes || req.ticket.size() > kMaxTargetBytes ||
      req.ticket_secret.size() > kMaxTargetBytes)
    return absl::InvalidArgumentError("the target, ticket or secret is longer than any there is");
  Certificate cert;
  int64_t expires = 0;
  ASSIGN_OR_RETURN(GrantView g, Authenticate(gateway, req, &cert, &expires));
  const std::string grant_id = g.row.id;
  if (g.state != "active")
    return absl::PermissionDeniedError(StrCat("grant ", grant_id, " is ", g.state));
  ASSIGN_OR_RETURN(const Role* role, policy_.FindRole(g.row.role));
  const std::string protocol = req.ticket.empty() ? "ssh" : "rdp";
  if (role->broker_target.empty())
    return absl::PermissionDeniedError(StrCat("role ", role->name, " is not brokered by gateways: "
                                              "ssh to its hosts directly"));
  if (role->broker_protocol != protocol)
    return absl::PermissionDeniedError(StrCat("role ", role->name, " is brokered by ",
                                              role->broker_protocol, " gateways, not ", protocol));
  if (!req.target.empty() && req.target != role->broker_target)
    return absl::PermissionDeniedError(StrCat("grant ", grant_id, " (role ", role->name,
                                              ") reaches ", role->broker_target, ", not ",
                                              req.target));
  if (role->tier != gateway.tier)
    return CrossTier(gateway, g.row.user, role->tier,
                     absl::PermissionDeniedError(StrCat("role ", role->name, " is tier ", role->tier,
                                                        "; this gateway serves tier ", gateway.tier)));
  const RotationTargetPolicy* leg = policy_.rotation.TargetFor(role->broker_credential);
  if (protocol == "ssh" && !leg)
    return absl::FailedPreconditionError("the broker role's credential is no longer a target");
  BrokeredSession s;
  s.grant_id = grant_id;
  s.user = g.row.user;
  s.account = g.row.login;
  s.target = role->broker_target;
  s.second_leg = leg;
  s.role = role;
  s.allow = role->broker_allow;
  auto fc = cert.critical_options.find("force-command");
  if (fc != cert.critical_options.end()) s.force_command = fc->second;
  s.pty_allowed = cert.extensions.count("permit-pty") > 0;
  s.recording_input = role->recording_input;
  s.recording_mode = role->recording_mode;
  s.moderators_required = role->moderators_required;
  s.moderator_on_leave = role->moderator_on_leave;
  s.moderator_wait = role->moderator_wait;
  s.expires = expires;
  if (req.check_only) return s;
  s.session_id = StrCat("b-", RandomId(20));
  // Written before the credential is taken: no credential leaves without its intent on record.
  RETURN_IF_ERROR(audit_.Append({{"event", "broker.open"}, {"session", s.session_id},
                                 {"gateway", gateway.host_id}, {"user", g.row.user},
                                 {"grant", grant_id}, {"target", role->broker_target},
                                 {"credential", role->broker_credential},
                                 {"from", req.client_address},
                                 {"serial", cert.serial}, {"ticket", req.ticket}})
                      .status());
  // The previous session's rotation after use may still be running: its new value is worth
  // the wait (a few seconds at most; past that the check-out below says why).
  for (int i = 0; i < 150 && vault_.IsRotating(role->broker_credential); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Counted as open before the credential is taken, so that a concurrent Close of the same
  // operator's other session does not check it in under this one.
  {
    std::lock_guard lock(mu_);
    open_[s.session_id] = {gateway.host_id, grant_id, g.row.user, role->broker_credential, s.expires};
  }
  // A revocation since the check above found no session to end (EndRevoked reads open_): the
  // grant is looked at again now that the session is in open_, where the next one finds it.
  absl::StatusOr<GrantView> again = access_.GetGrant(grant_id);
  if (!again.ok() || again->state != "active") {
    std::lock_guard lock(mu_);
    open_.erase(s.session_id);
    return absl::PermissionDeniedError(StrCat("grant ", grant_id, " is ",
                                              again.ok() ? again->state : "gone"));
  }
  absl::StatusOr<SecretRead> value =
      vault_.ReadForBroker(g.row.user, role->broker_credential, role->approvals_required);
  if (!value.ok()) {
    std::lock_guard lock(mu_);
    open_.erase(s.session_id);
    return value.status();
  }
  s.password = std::move(value->value);
  return s;
}

absl::StatusOr<BrokerClose> SshBroker::Close(const Identity& gateway, std::string_view session_id) {
  if (gateway.host_kind != kGatewayKind)
    return absl::PermissionDeniedError("brokered sessions are closed by gateways (warden-sshgw)");
  Open_ o;
  bool last = true;
  {
    std::lock_guard lock(mu_);
    auto it = open_.find(std::string(session_id));
    if (it == open_.end() || it->second.gateway != gateway.host_id)
      return absl::NotFoundError(StrCat("no open brokered session ", session_id, " of this gateway"));
    o = it->second;
    open_.erase(it);
    // Sessions whose grant has ended are gone whether or not their gateway said so (a lost
    // reply, a gateway that died): forgotten, so they never hold a check-in back.
    const int64_t now = clock_.Now();
    std::erase_if(open_, [now](const auto& e) { return e.second.expires <= now; });
    // The same operator may hold the credential in two sessions: checked in with the last.
    for (const auto& [id, other] : open_) last = last && !(other.user == o.user && other.path == o.path);
  }
  BrokerClose out;
  RETURN_IF_ERROR(audit_.Append({{"event", "broker.close"}, {"session", std::string(session_id)},
                                 {"gateway", gateway.host_id}, {"user", o.user},
                                 {"grant", o.grant_id}})
                      .status());
  if (!last) return out;
  ASSIGN_OR_RETURN(out.checked_in, vault_.CheckInForBroker(o.user, o.path));
  // Rotated only when this operator's check-out ended here: not under someone who has since
  // checked it out (this one's lease ran out first; that ending was the use, and its rotation
  // follows the vault's own rules).
  const VaultPathPolicy* vp = policy_.VaultPathFor(o.path);
  if (out.checked_in && vp && vp->rotate_after_use) {
    absl::StatusOr<int64_t> v = rotation_.RotateAfterSession(o.path, o.user);
    if (v.ok()) {
      out.rotated_version = *v;
    } else {
      // The version stays marked used: the rotation pass retries it and alerts while it fails.
      out.rotation_error = std::string(v.status().message());
    }
  }
  return out;
}

int SshBroker::EndRevoked() {
  std::map<std::string, Open_> open;
  {
    std::lock_guard lock(mu_);
    open = open_;
  }
  int ended = 0;
  for (const auto& [id, o] : open) {
    absl::StatusOr<GrantView> g = access_.GetGrant(o.grant_id);
    if (g.ok() && g->state == "active") continue;
    recordings_.EndLiveSession(o.gateway, id, "warden",
                               StrCat("grant ", o.grant_id, " is ", g.ok() ? g->state : "gone"));
    ended++;
  }
  return ended;
}

}  // namespace warden
