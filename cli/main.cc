// wardenctl: the operator's command line for Warden.
#include <openssl/crypto.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "cli/client.h"
#include "cli/replay.h"
#include "common/audit_chain.h"
#include "common/crypto.h"
#include "common/duration.h"
#include "common/recording.h"
#include "common/sshcert.h"
#include "common/grpc_tls.h"
#include "warden/v1/access.grpc.pb.h"
#include "warden/v1/audit.grpc.pb.h"
#include "warden/v1/auth.grpc.pb.h"
#include "warden/v1/ca.grpc.pb.h"
#include "warden/v1/host.grpc.pb.h"
#include "warden/v1/recording.grpc.pb.h"
#include "warden/v1/vault.grpc.pb.h"

namespace pb = ::warden::v1;
using nlohmann::json;

namespace warden::cli {
namespace {

struct Globals {
  std::string home = DefaultHome();
  bool json = false;
};

std::string When(int64_t t) {
  if (t == 0) return "-";
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string In(int64_t seconds) {
  if (seconds <= 0) return "now";
  if (seconds < 120) return StrCat(seconds, "s");
  if (seconds < 7200) return StrCat(seconds / 60, "m");
  return StrCat(seconds / 3600, "h", (seconds % 3600) / 60, "m");
}

// Reads a secret from the terminal without echo.
std::string Prompt(const std::string& label, bool secret) {
  std::cerr << label << ": " << std::flush;
  termios old{};
  const bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
  if (secret && tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (secret && tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    std::cerr << "\n";
  }
  return line;
}

json RequestJson(const pb::AccessRequest& r) {
  json approvals = json::array();
  for (const auto& a : r.approvals()) approvals.push_back({{"approver", a.approver()}, {"at", a.at_unix()}});
  return {{"id", r.id()}, {"requester", r.requester()}, {"role", r.role()}, {"reason", r.reason()},
          {"ttl_seconds", r.ttl_seconds()}, {"state", r.state()}, {"created", r.created_unix()},
          {"expires", r.expires_unix()}, {"approvals", approvals},
          {"approvals_required", r.approvals_required()}, {"grant_id", r.grant_id()},
          {"note", r.note()}};
}

void PrintRequest(const pb::AccessRequest& r) {
  std::cout << r.id() << "  " << r.role() << "  requested by " << r.requester() << "  ["
            << r.state() << "]\n"
            << "  reason:    " << r.reason() << "\n"
            << "  ttl:       " << In(r.ttl_seconds()) << "\n";
  std::vector<std::string> who;
  for (const auto& a : r.approvals()) who.push_back(a.approver());
  std::cout << "  approvals: " << r.approvals_size() << " of " << r.approvals_required();
  if (!who.empty()) std::cout << " (" << StrJoin(who, ", ") << ")";
  std::cout << "; approvers: " << StrJoin(r.approver_groups(), ", ") << "\n";
  if (r.state() == "pending") {
    std::cout << "  expires:   " << When(r.expires_unix()) << " unless approved\n";
  }
  if (!r.grant_id().empty()) std::cout << "  grant:     " << r.grant_id() << "\n";
  if (!r.note().empty()) std::cout << "  note:      " << r.note() << "\n";
}

json GrantJson(const pb::Grant& g) {
  return {{"id", g.id()}, {"request_id", g.request_id()}, {"user", g.user()}, {"role", g.role()},
          {"login", g.login()}, {"tier", g.tier()}, {"start", g.start_unix()}, {"end", g.end_unix()},
          {"state", g.state()}, {"revoked_by", g.revoked_by()}, {"certificates", g.certificates()}};
}

void PrintGrant(const pb::Grant& g) {
  std::cout << g.id() << "  " << g.login() << "  role " << g.role() << " (tier " << g.tier()
            << ")  [" << g.state() << "]";
  if (g.state() == "active") std::cout << "  ends in " << In(g.end_unix() - time(nullptr));
  if (g.state() == "revoked") std::cout << "  by " << g.revoked_by();
  std::cout << "  certificates: " << g.certificates() << "\n";
}

class Cli {
 public:
  explicit Cli(const Globals& g) : g_(g) {}

  absl::Status Login(const std::string& controller, const std::string& ca_file,
                     const std::string& user, std::string otp) {
    Profile p;
    p.home = g_.home;
    p.controller = controller;
    p.user = user;
    ASSIGN_OR_RETURN(std::string ca, ReadFile(ca_file));
    if (!ReadCertificatePem(ca).ok()) {
      return absl::InvalidArgumentError(StrCat(ca_file, " is not a PEM certificate"));
    }
    std::filesystem::create_directories(p.home);
    std::filesystem::permissions(p.home, std::filesystem::perms::owner_all);
    RETURN_IF_ERROR(WriteFileAtomic(p.ca_path(), ca, 0644));
    std::string password;
    if (const char* env = getenv("WARDEN_PASSWORD"); env && *env) {
      password = env;
    } else {
      password = Prompt(StrCat("Password for ", user), true);
    }
    if (otp.empty()) otp = Prompt("One-time code", false);
    ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateP256Key());
    ASSIGN_OR_RETURN(std::string csr, CertificateRequestPem(key.get()));
    pb::LoginRequest lr;
    lr.set_user(user);
    lr.set_password(password);
    lr.set_otp(otp);
    lr.set_csr_pem(csr);
    OPENSSL_cleanse(password.data(), password.size());
    ASSIGN_OR_RETURN(auto channel, Connect(p, false));
    pb::LoginResponse resp;
    auto st = pb::AuthService::NewStub(channel)->Login(CallContext().get(), lr, &resp);
    RETURN_IF_ERROR(FromGrpc(st, p));
    ASSIGN_OR_RETURN(std::string key_pem, PrivateKeyToPem(key.get()));
    RETURN_IF_ERROR(WriteFileAtomic(p.key_path(), key_pem, 0600));
    OPENSSL_cleanse(key_pem.data(), key_pem.size());
    RETURN_IF_ERROR(WriteFileAtomic(p.cert_path(), resp.certificate_pem(), 0644));
    RETURN_IF_ERROR(SaveProfile(p));
    if (g_.json) {
      std::cout << json{{"user", user}, {"expires", resp.expires_unix()}}.dump() << "\n";
    } else {
      std::cout << "Logged in to " << controller << " as " << user << " until "
                << When(resp.expires_unix()) << "\n";
    }
    return absl::OkStatus();
  }

  absl::Status WhoAmI() {
    RETURN_IF_ERROR(Open());
    pb::WhoAmIResponse resp;
    RETURN_IF_ERROR(FromGrpc(pb::AuthService::NewStub(ch_)->WhoAmI(CallContext().get(), {}, &resp), p_));
    if (g_.json) {
      std::cout << json{{"user", resp.user()}, {"groups", resp.groups()}}.dump() << "\n";
    } else {
      std::cout << resp.user() << " (groups: " << StrJoin(resp.groups(), ", ") << ")\n";
    }
    return absl::OkStatus();
  }

  absl::Status Request(const std::string& role, const std::string& reason, const std::string& ttl) {
    RETURN_IF_ERROR(Open());
    pb::CreateRequestRequest req;
    req.set_role(role);
    req.set_reason(reason);
    if (!ttl.empty()) {
      ASSIGN_OR_RETURN(int64_t secs, ParseDuration(ttl));
      req.set_ttl_seconds(secs);
    }
    pb::AccessRequest resp;
    RETURN_IF_ERROR(FromGrpc(access()->CreateRequest(CallContext().get(), req, &resp), p_));
    return ShowRequest(resp, "Request filed. Approvers run: wardenctl approve " + resp.id());
  }

  absl::Status Requests(bool all) {
    RETURN_IF_ERROR(Open());
    pb::ListRequestsRequest req;
    req.set_all(all);
    pb::ListRequestsResponse resp;
    RETURN_IF_ERROR(FromGrpc(access()->ListRequests(CallContext().get(), req, &resp), p_));
    if (g_.json) {
      json arr = json::array();
      for (const auto& r : resp.requests()) arr.push_back(RequestJson(r));
      std::cout << arr.dump() << "\n";
      return absl::OkStatus();
    }
    if (resp.requests().empty()) std::cout << (all ? "No requests.\n" : "No pending requests.\n");
    for (const auto& r : resp.requests()) PrintRequest(r);
    return absl::OkStatus();
  }

  absl::Status Review(const std::string& verb, const std::string& id, const std::string& comment) {
    RETURN_IF_ERROR(Open());
    pb::ReviewRequest req;
    req.set_id(id);
    req.set_comment(comment);
    pb::AccessRequest resp;
    auto stub = access();
    grpc::Status st = verb == "approve" ? stub->ApproveRequest(CallContext().get(), req, &resp)
                                        : stub->DenyRequest(CallContext().get(), req, &resp);
    RETURN_IF_ERROR(FromGrpc(st, p_));
    std::string headline;
    if (resp.state() == "approved") {
      headline = StrCat("Approved: quorum reached, grant ", resp.grant_id(), " is active.");
    } else if (resp.state() == "denied") {
      headline = "Denied.";
    } else {
      headline = StrCat("Approval recorded: ", resp.approvals_size(), " of ",
                              resp.approvals_required(), ".");
    }
    return ShowRequest(resp, headline);
  }

  absl::Status Cancel(const std::string& id) {
    RETURN_IF_ERROR(Open());
    pb::CancelRequestRequest req;
    req.set_id(id);
    pb::AccessRequest resp;
    RETURN_IF_ERROR(FromGrpc(access()->CancelRequest(CallContext().get(), req, &resp), p_));
    return ShowRequest(resp, "Cancelled.");
  }

  absl::Status Grants(bool all) {
    RETURN_IF_ERROR(Open());
    pb::ListGrantsRequest req;
    req.set_all(all);
    pb::ListGrantsResponse resp;
    RETURN_IF_ERROR(FromGrpc(access()->ListGrants(CallContext().get(), req, &resp), p_));
    if (g_.json) {
      json arr = json::array();
      for (const auto& g : resp.grants()) arr.push_back(GrantJson(g));
      std::cout << arr.dump() << "\n";
      return absl::OkStatus();
    }
    if (resp.grants().empty()) std::cout << (all ? "No grants.\n" : "No active grants.\n");
    for (const auto& g : resp.grants()) PrintGrant(g);
    return absl::OkStatus();
  }

  absl::Status Revoke(const std::string& id, const std::string& reason) {
    RETURN_IF_ERROR(Open());
    pb::RevokeGrantRequest req;
    req.set_id(id);
    req.set_reason(reason);
    pb::Grant resp;
    RETURN_IF_ERROR(FromGrpc(access()->RevokeGrant(CallContext().get(), req, &resp), p_));
    if (g_.json) {
      std::cout << GrantJson(resp).dump() << "\n";
    } else {
      std::cout << "Revoked grant " << resp.id() << " (" << resp.login() << "); its "
                << resp.certificates() << " certificate(s) are in the next KRL.\n";
    }
    return absl::OkStatus();
  }

  struct SignOptions {
    std::string grant;
    std::string identity;  // private key path; the public key is IDENTITY.pub
    std::vector<std::string> source_addresses;
    std::string force_command;
    std::vector<std::string> extensions;
  };

  // Signs IDENTITY.pub under the grant and writes IDENTITY-cert.pub.
  absl::StatusOr<pb::SignUserKeyResponse> Sign(const SignOptions& o, std::string* cert_path) {
    RETURN_IF_ERROR(Open());
    ASSIGN_OR_RETURN(std::string pub, ReadFile(o.identity + ".pub"));
    pb::SignUserKeyRequest req;
    req.set_grant_id(o.grant);
    req.set_public_key(pub);
    for (const auto& s : o.source_addresses) req.add_source_addresses(s);
    req.set_force_command(o.force_command);
    for (const auto& e : o.extensions) req.add_extensions(e);
    pb::SignUserKeyResponse resp;
    RETURN_IF_ERROR(FromGrpc(ca()->SignUserKey(CallContext().get(), req, &resp), p_));
    *cert_path = o.identity + "-cert.pub";
    RETURN_IF_ERROR(WriteFileAtomic(*cert_path, resp.certificate() + "\n", 0644));
    return resp;
  }

  absl::Status CertSign(const SignOptions& o) {
    std::string path;
    ASSIGN_OR_RETURN(pb::SignUserKeyResponse resp, Sign(o, &path));
    if (g_.json) {
      std::cout << json{{"certificate_file", path}, {"serial", std::to_string(resp.serial())},
                        {"key_id", resp.key_id()}, {"principal", resp.principal()},
                        {"valid_after", resp.valid_after_unix()},
                        {"valid_before", resp.valid_before_unix()}}
                       .dump()
                << "\n";
    } else {
      std::cout << "Wrote " << path << "\n"
                << "  principal: " << resp.principal() << "\n"
                << "  key id:    " << resp.key_id() << "\n"
                << "  valid:     " << When(resp.valid_after_unix()) << " to "
                << When(resp.valid_before_unix()) << "\n"
                << "  CA:        " << resp.ca_fingerprint() << "\n";
    }
    return absl::OkStatus();
  }

  // Finds the grant for `login`, signs the key, and execs ssh.
  absl::Status Ssh(SignOptions o, const std::string& destination, int port,
                   const std::vector<std::string>& ssh_options,
                   const std::vector<std::string>& command) {
    const size_t at = destination.find('@');
    if (at == std::string::npos) {
      return absl::InvalidArgumentError("destination must be LOGIN@HOST, e.g. adm-alice-7k2f@db1");
    }
    const std::string login = destination.substr(0, at);
    if (o.grant.empty()) {
      RETURN_IF_ERROR(Open());
      pb::ListGrantsResponse resp;
      RETURN_IF_ERROR(FromGrpc(access()->ListGrants(CallContext().get(), {}, &resp), p_));
      for (const auto& g : resp.grants()) {
        if (g.login() == login) o.grant = g.id();
      }
      if (o.grant.empty()) {
        return absl::NotFoundError(StrCat("you have no active grant for login ", login,
                                                "; see wardenctl grants, or request access"));
      }
    }
    std::string cert_path;
    RETURN_IF_ERROR(Sign(o, &cert_path).status());
    std::vector<std::string> args = {"ssh", "-i", o.identity, "-o", "CertificateFile=" + cert_path,
                                     "-o", "IdentitiesOnly=yes"};
    if (port) {
      args.push_back("-p");
      args.push_back(std::to_string(port));
    }
    for (const auto& opt : ssh_options) {
      args.push_back("-o");
      args.push_back(opt);
    }
    args.push_back(destination);
    args.insert(args.end(), command.begin(), command.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp("ssh", argv.data());
    return absl::UnavailableError(StrCat("cannot run ssh: ", std::strerror(errno)));
  }

  absl::Status CaKeys(int tier, bool host) {
    RETURN_IF_ERROR(Open());
    pb::GetTrustedKeysRequest req;
    req.set_tier(tier);
    req.set_host_ca(host);
    pb::TrustedKeys resp;
    RETURN_IF_ERROR(FromGrpc(ca()->GetTrustedKeys(CallContext().get(), req, &resp), p_));
    PrintKeys(resp);
    return absl::OkStatus();
  }

  absl::Status CaRotate(int tier, bool finish) {
    RETURN_IF_ERROR(Open());
    pb::RotateCaRequest req;
    req.set_tier(tier);
    req.set_finish(finish);
    pb::TrustedKeys resp;
    RETURN_IF_ERROR(FromGrpc(ca()->RotateCa(CallContext().get(), req, &resp), p_));
    if (!g_.json) {
      std::cerr << (finish ? "Rotation finished; the old key is no longer trusted.\n"
                           : "New key is issuing; the old key stays trusted until --finish. "
                             "Push the new trusted set to tier hosts before finishing.\n");
    }
    PrintKeys(resp);
    return absl::OkStatus();
  }

  absl::Status KrlFetch(const std::string& out, uint64_t if_newer_than) {
    RETURN_IF_ERROR(Open());
    pb::GetKrlRequest req;
    req.set_if_newer_than(if_newer_than);
    pb::Krl resp;
    RETURN_IF_ERROR(FromGrpc(ca()->GetKrl(CallContext().get(), req, &resp), p_));
    if (!resp.not_modified()) RETURN_IF_ERROR(WriteFileAtomic(out, resp.krl(), 0644));
    if (g_.json) {
      std::cout << json{{"version", resp.version()}, {"not_modified", resp.not_modified()},
                        {"revoked_certificates", resp.revoked_certificates()}, {"file", out}}
                       .dump()
                << "\n";
    } else if (resp.not_modified()) {
      std::cout << "KRL version " << resp.version() << " unchanged; " << out << " left as is\n";
    } else {
      std::cout << "Wrote KRL version " << resp.version() << " (" << resp.revoked_certificates()
                << " revoked certificates) to " << out << "\n";
    }
    return absl::OkStatus();
  }

  absl::Status HostTokenCreate(int tier, const std::vector<std::string>& hostnames,
                               const std::string& labels, const std::string& ttl) {
    RETURN_IF_ERROR(Open());
    pb::CreateJoinTokenRequest req;
    req.set_tier(tier);
    for (const auto& h : hostnames) req.add_hostnames(h);
    for (std::string_view part : StrSplit(labels, ',', /*skip_empty=*/true)) {
      const size_t eq = part.find('=');
      if (eq == std::string_view::npos) {
        return absl::InvalidArgumentError(StrCat("label \"", part, "\" must be KEY=VALUE"));
      }
      (*req.mutable_labels())[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
    }
    if (!ttl.empty()) {
      ASSIGN_OR_RETURN(int64_t secs, ParseDuration(ttl));
      req.set_ttl_seconds(secs);
    }
    pb::JoinToken resp;
    RETURN_IF_ERROR(FromGrpc(
        pb::HostService::NewStub(ch_)->CreateJoinToken(CallContext().get(), req, &resp), p_));
    if (g_.json) {
      std::cout << json{{"token", resp.token()},
                        {"tier", resp.tier()},
                        {"hostnames", std::vector<std::string>(resp.hostnames().begin(),
                                                               resp.hostnames().end())},
                        {"expires", resp.expires_unix()}}
                       .dump()
                << "\n";
    } else {
      std::cout << resp.token() << "\n";
      std::cerr << "Single-use join token for a tier-" << resp.tier() << " host named "
                << StrJoin(resp.hostnames(), " or ") << ", valid until "
                << When(resp.expires_unix()) << ".\n";
    }
    return absl::OkStatus();
  }

  absl::Status AuditVerify(const std::string& file, const std::string& key_file,
                           bool allow_unsealed_tail) {
    std::string text, key_line;
    std::optional<AuditHead> head;
    if (!file.empty()) {
      ASSIGN_OR_RETURN(text, ReadFile(file));
      if (key_file.empty()) return absl::InvalidArgumentError("--file needs --key (the audit public key)");
      ASSIGN_OR_RETURN(key_line, ReadFile(key_file));
    } else {
      RETURN_IF_ERROR(Open());
      auto ctx = CallContext();
      auto reader = pb::AuditService::NewStub(ch_)->ExportLog(ctx.get(), {});
      pb::AuditChunk chunk;
      while (reader->Read(&chunk)) {
        text += chunk.data();
        if (chunk.last()) {
          head = AuditHead{chunk.head_seq(), chunk.head_hash(),
                           Bytes(chunk.head_signature().begin(), chunk.head_signature().end())};
          key_line = chunk.audit_public_key();
        }
      }
      RETURN_IF_ERROR(FromGrpc(reader->Finish(), p_));
      if (!head) return absl::DataLossError("the export ended without a signed head");
    }
    ASSIGN_OR_RETURN(PublicKey key, ParseAuthorizedKey(key_line, nullptr));
    auto report = VerifyAuditLog(text, key, head, allow_unsealed_tail);
    if (!report.ok()) {
      return absl::DataLossError(StrCat("audit log verification FAILED: ",
                                              report.status().message()));
    }
    if (g_.json) {
      std::cout << json{{"ok", true},
                        {"lines", report->lines},
                        {"checkpoints", report->checkpoints},
                        {"unsealed", report->unsealed}}
                       .dump()
                << "\n";
    } else {
      std::cout << "Audit log OK: " << report->lines << " events, " << report->checkpoints
                << " signed checkpoints" << (head ? ", signed head matches" : "");
      if (report->unsealed > 0) {
        std::cout << "; WARNING: the last " << report->unsealed
                  << " event(s) follow the last checkpoint and are not sealed";
      }
      std::cout << "; audit key " << Fingerprint(key.blob) << "\n";
    }
    return absl::OkStatus();
  }

  struct SessionFilter {
    std::string user, host, command, grant, since, until;
  };

  absl::Status Sessions(const SessionFilter& f) {
    RETURN_IF_ERROR(Open());
    pb::ListSessionsRequest req;
    req.set_user(f.user);
    req.set_host_id(f.host);
    req.set_command(f.command);
    req.set_grant_id(f.grant);
    const int64_t now = time(nullptr);
    if (!f.since.empty()) {
      ASSIGN_OR_RETURN(int64_t ago, ParseDuration(f.since));
      req.set_since_unix(now - ago);
    }
    if (!f.until.empty()) {
      ASSIGN_OR_RETURN(int64_t ago, ParseDuration(f.until));
      req.set_until_unix(now - ago);
    }
    pb::ListSessionsResponse resp;
    RETURN_IF_ERROR(FromGrpc(recordings()->ListSessions(CallContext().get(), req, &resp), p_));
    if (g_.json) {
      json arr = json::array();
      for (const auto& s : resp.sessions()) {
        arr.push_back({{"id", s.session_id()}, {"user", s.session().user()},
                       {"host", s.session().host_id()}, {"tty", s.session().tty()},
                       {"rhost", s.session().rhost()}, {"started_ns", s.session().started_unix_ns()},
                       {"ended_ns", s.ended_unix_ns()}, {"chunks", s.chunks()},
                       {"lost_bytes", s.lost_bytes()}, {"sealed", s.sealed()},
                       {"grant", s.session().grant_id()},
                       {"moderators_required", s.moderators_required()},
                       {"moderators", s.moderators()},
                       {"alerts", std::vector<std::string>(s.alerts().begin(), s.alerts().end())}});
      }
      std::cout << arr.dump() << "\n";
      return absl::OkStatus();
    }
    if (resp.sessions().empty()) std::cout << "no recorded sessions match\n";
    for (const auto& s : resp.sessions()) {
      const int64_t start = s.session().started_unix_ns() / 1'000'000'000;
      std::cout << s.session_id() << "  " << s.session().user() << "@" << s.session().host_id()
                << "  from " << (s.session().rhost().empty() ? "local" : s.session().rhost())
                << "  " << When(start) << "  ";
      if (s.ended_unix_ns() == 0) {
        std::cout << "live";
        if (s.moderators_required() > 0) {
          std::cout << (s.moderators() < s.moderators_required() ? "  WAITING FOR MODERATORS "
                                                                   : "  moderated ")
                    << s.moderators() << "/" << s.moderators_required();
        }
      } else {
        const int64_t took = s.ended_unix_ns() / 1'000'000'000 - start;
        std::cout << (took < 1 ? "<1s" : In(took)) << (s.sealed() ? "  sealed" : "");
      }
      std::cout << "  " << s.chunks() << " chunks";
      if (s.lost_bytes() > 0) std::cout << "  " << s.lost_bytes() << " bytes LOST";
      if (!s.alerts().empty()) std::cout << "  FLAGGED: " << StrJoin(s.alerts(), ", ");
      std::cout << "\n";
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<pb::RecordingChunk>> FetchRecording(const std::string& id) {
    RETURN_IF_ERROR(Open());
    pb::GetRecordingRequest req;
    req.set_session_id(id);
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
    auto reader = recordings()->GetRecording(ctx.get(), req);
    std::vector<pb::RecordingChunk> chunks;
    pb::RecordingChunk c;
    while (reader->Read(&c)) chunks.push_back(std::move(c));
    RETURN_IF_ERROR(FromGrpc(reader->Finish(), p_));
    return chunks;
  }

  // A recording of a multiplexed OpenSSH connection has several terminals: says so on stderr,
  // and refuses one it does not have.
  absl::Status CheckTerminal(const std::string& id, const std::vector<pb::RecordingChunk>& chunks,
                             uint32_t terminal) {
    const uint32_t n = TerminalCount(chunks);
    if (terminal >= n)
      return absl::InvalidArgumentError(
          StrCat("session ", id, " has ", n, n == 1 ? " terminal" : " terminals",
                 "; --terminal takes 0", n == 1 ? "" : StrCat(" to ", n - 1)));
    if (n > 1)
      std::cerr << "wardenctl: session " << id << " has " << n
                << " terminals (channels of one SSH connection); this is terminal " << terminal
                << ", choose another with --terminal\n";
    return absl::OkStatus();
  }

  absl::Status Export(const std::string& id, const std::string& format, const std::string& out,
                      uint32_t terminal) {
    ASSIGN_OR_RETURN(std::vector<pb::RecordingChunk> chunks, FetchRecording(id));
    RETURN_IF_ERROR(CheckTerminal(id, chunks, terminal));
    std::ofstream file;
    if (!out.empty() && out != "-") {
      file.open(out, std::ios::binary | std::ios::trunc);
      if (!file) return absl::UnavailableError(StrCat("cannot write ", out, ": ", strerror(errno)));
    }
    std::ostream& os = file.is_open() ? file : std::cout;
    std::unique_ptr<ReplayWriter> w;
    if (format == "asciicast") {
      pb::SessionSummary s;
      s.set_session_id(id);
      if (!chunks.empty()) *s.mutable_session() = chunks.front().session();
      const pb::Resize size = FirstSize(chunks, terminal);
      w = AsciicastWriter(os, s, size.cols(), size.rows());
    } else if (format == "text") {
      w = TextWriter(os);
    } else if (format == "commands") {
      w = CommandsWriter(os);
    } else if (format == "raw") {
      w = RawWriter(os);
    } else {
      return absl::InvalidArgumentError(
          StrCat("unknown format \"", format, "\"; use asciicast, text, raw or commands"));
    }
    RETURN_IF_ERROR(Replay(chunks, *w, terminal));
    os.flush();
    if (!os) return absl::UnavailableError(StrCat("cannot write ", out.empty() ? "stdout" : out));
    return absl::OkStatus();
  }

  absl::Status Play(const std::string& id, const PlayOptions& o) {
    if (o.speed <= 0) return absl::InvalidArgumentError("--speed must be above 0");
    ASSIGN_OR_RETURN(std::vector<pb::RecordingChunk> chunks, FetchRecording(id));
    RETURN_IF_ERROR(CheckTerminal(id, chunks, o.terminal));
    auto w = Player(std::cout, o, [](double s) {
      std::this_thread::sleep_for(std::chrono::duration<double>(s));
    });
    RETURN_IF_ERROR(Replay(chunks, *w, o.terminal));
    std::cout << "\r\n[wardenctl: end of " << id << "]\r\n";
    return absl::OkStatus();
  }

  // Watches a session as it happens: what the screen showed so far at once, then live, until it
  // ends (or Ctrl-C). A moderator counts toward the role's four-eyes quorum while watching, and
  // from a terminal presses t to end the session or q to leave.
  absl::Status Join(const std::string& id, const std::string& mode) {
    if (mode != "observer" && mode != "moderator")
      return absl::InvalidArgumentError(StrCat("unknown mode \"", mode, "\"; use observer or moderator"));
    const bool moderator = mode == "moderator";
    RETURN_IF_ERROR(Open());
    pb::GetRecordingRequest req;
    req.set_session_id(id);
    req.set_follow(true);
    req.set_moderator(moderator);
    grpc::ClientContext ctx;
    auto reader = recordings()->GetRecording(&ctx, req);
    std::atomic<bool> done{false}, left{false};
    std::thread keys;
    termios saved{};
    const bool keyboard = moderator && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (keyboard) {
      termios raw = saved;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 2;  // reads return every 0.2 s, so the thread notices the end
      tcsetattr(STDIN_FILENO, TCSANOW, &raw);
      keys = std::thread([&] {
        while (!done) {
          char k = 0;
          if (read(STDIN_FILENO, &k, 1) != 1) continue;
          if (k == 't') {
            absl::Status st = Terminate(id, "ended by a moderator from wardenctl join");
            std::cerr << "\r\n[wardenctl: " << (st.ok() ? "ending the session" : std::string(st.message()))
                      << "]\r\n";
          } else if (k == 'q') {
            left = true;
            ctx.TryCancel();
            return;
          }
        }
      });
    }
    pb::RecordingChunk c;
    bool ended = false;
    absl::Status bad;
    auto w = RawWriter(std::cout);
    bool first = true;
    while (reader->Read(&c)) {
      if (first && moderator) {
        std::cerr << "[wardenctl: watching " << id << " as a moderator"
                  << (keyboard ? "; press t to end the session, q to leave" : "") << "]\r\n";
      }
      first = false;
      auto events = DecompressEvents(c.events_zstd());
      if (!events.ok()) {
        bad = absl::DataLossError(StrCat("chunk ", c.seq(), ": ", events.status().message()));
        ctx.TryCancel();
        break;
      }
      for (const pb::RecordingEvent& ev : events->events()) w->Event(ev);
      std::cout.flush();
      ended = ended || c.final();
    }
    grpc::Status finished = reader->Finish();
    done = true;
    if (keys.joinable()) keys.join();
    if (keyboard) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    RETURN_IF_ERROR(bad);
    if (!left) RETURN_IF_ERROR(FromGrpc(finished, p_));
    std::cout << "\r\n[wardenctl: "
              << (left ? "left the session" : ended ? "the session has ended" : "stream closed")
              << "]\r\n";
    return absl::OkStatus();
  }

  absl::Status Terminate(const std::string& id, const std::string& reason) {
    RETURN_IF_ERROR(Open());
    pb::TerminateSessionRequest req;
    req.set_session_id(id);
    req.set_reason(reason);
    pb::TerminateSessionResponse resp;
    return FromGrpc(recordings()->TerminateSession(CallContext().get(), req, &resp), p_);
  }

  // --- vault ---
  absl::Status VaultStatusShow(const pb::VaultStatus& st) {
    if (g_.json) {
      std::cout << json{{"initialized", st.initialized()}, {"sealed", st.sealed()},
                        {"seal", st.seal()}, {"shares", st.shares()},
                        {"threshold", st.threshold()}, {"progress", st.progress()}}.dump()
                << "\n";
      return absl::OkStatus();
    }
    if (!st.initialized()) {
      std::cout << "Vault: not initialised\n";
      return absl::OkStatus();
    }
    std::cout << "Vault: " << (st.sealed() ? "SEALED" : "unsealed") << " (seal: " << st.seal()
              << ", " << st.threshold() << " of " << st.shares() << " shares";
    if (st.sealed() && st.progress() > 0) std::cout << "; " << st.progress() << " given so far";
    std::cout << ")\n";
    return absl::OkStatus();
  }

  absl::Status OperatorStatus() {
    RETURN_IF_ERROR(Open());
    pb::VaultStatus st;
    RETURN_IF_ERROR(FromGrpc(vault()->Status(CallContext().get(), {}, &st), p_));
    return VaultStatusShow(st);
  }

  absl::Status OperatorUnseal(std::string share) {
    RETURN_IF_ERROR(Open());
    if (share.empty()) share = Prompt("Unseal share", true);
    pb::UnsealRequest req;
    req.set_share(share);
    OPENSSL_cleanse(share.data(), share.size());
    pb::VaultStatus st;
    absl::Status rpc = FromGrpc(vault()->Unseal(CallContext().get(), req, &st), p_);
    OPENSSL_cleanse(req.mutable_share()->data(), req.share().size());
    RETURN_IF_ERROR(rpc);
    return VaultStatusShow(st);
  }

  absl::Status OperatorSeal() {
    RETURN_IF_ERROR(Open());
    pb::VaultStatus st;
    RETURN_IF_ERROR(FromGrpc(vault()->Seal(CallContext().get(), {}, &st), p_));
    return VaultStatusShow(st);
  }

  absl::Status VaultPut(const std::string& path, const std::string& value, const std::string& file) {
    RETURN_IF_ERROR(Open());
    pb::PutSecretRequest req;
    req.set_path(path);
    if (!value.empty()) {
      req.set_value(value);
    } else if (!file.empty()) {
      ASSIGN_OR_RETURN(std::string v, ReadFile(file));
      req.set_value(std::move(v));
    } else {
      std::string v((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
      req.set_value(std::move(v));
    }
    pb::PutSecretResponse resp;
    absl::Status rpc = FromGrpc(vault()->Put(CallContext().get(), req, &resp), p_);
    OPENSSL_cleanse(req.mutable_value()->data(), req.value().size());
    RETURN_IF_ERROR(rpc);
    if (g_.json) {
      std::cout << json{{"path", path}, {"version", resp.version()}}.dump() << "\n";
    } else {
      std::cout << "Stored " << path << " version " << resp.version() << "\n";
    }
    return absl::OkStatus();
  }

  absl::Status ShowSecret(const std::string& path, pb::GetSecretResponse& resp) {
    if (!resp.wrapping_token().empty()) {
      const pb::WrapInfo& w = resp.wrap();
      if (g_.json) {
        std::cout << json{{"path", path}, {"version", resp.version()}, {"wrapped", true},
                          {"token", resp.wrapping_token()}, {"accessor", w.accessor()},
                          {"expires", w.expires_unix()},
                          {"approvals_required", w.approvals_required()}}.dump()
                  << "\n";
      } else {
        std::cout << path << " is under dual control: " << w.approvals_required()
                  << " authorizations are needed before you can read it.\n"
                  << "  accessor: " << w.accessor() << "   (give this to approvers: wardenctl vault authorize "
                  << w.accessor() << " --reason ...)\n"
                  << "  token:    " << resp.wrapping_token()
                  << "   (yours alone, works once: wardenctl vault unwrap TOKEN)\n"
                  << "  expires:  " << When(w.expires_unix()) << " if unused\n";
      }
      return absl::OkStatus();
    }
    if (g_.json) {
      json j = {{"path", path}, {"version", resp.version()}, {"value", resp.value()}};
      if (resp.checked_out_until_unix()) j["checked_out_until"] = resp.checked_out_until_unix();
      std::cout << j.dump() << "\n";
    } else {
      std::cout << resp.value();
      if (!resp.value().empty() && resp.value().back() != '\n') std::cout << "\n";
      if (resp.checked_out_until_unix())
        std::cerr << "[checked out to you until " << When(resp.checked_out_until_unix())
                  << "; wardenctl vault checkin " << path << "]\n";
    }
    std::cout.flush();
    OPENSSL_cleanse(resp.mutable_value()->data(), resp.value().size());
    return absl::OkStatus();
  }

  absl::Status VaultGet(const std::string& path, int64_t version) {
    RETURN_IF_ERROR(Open());
    pb::GetSecretRequest req;
    req.set_path(path);
    req.set_version(version);
    pb::GetSecretResponse resp;
    RETURN_IF_ERROR(FromGrpc(vault()->Get(CallContext().get(), req, &resp), p_));
    return ShowSecret(path, resp);
  }

  absl::Status VaultUnwrap(std::string token) {
    RETURN_IF_ERROR(Open());
    if (token.empty()) token = Prompt("Wrapping token", true);
    pb::UnwrapRequest req;
    req.set_token(token);
    pb::GetSecretResponse resp;
    RETURN_IF_ERROR(FromGrpc(vault()->Unwrap(CallContext().get(), req, &resp), p_));
    return ShowSecret(resp.wrap().path(), resp);
  }

  absl::Status VaultList(const std::string& prefix) {
    RETURN_IF_ERROR(Open());
    pb::ListSecretsRequest req;
    req.set_prefix(prefix);
    pb::ListSecretsResponse resp;
    RETURN_IF_ERROR(FromGrpc(vault()->List(CallContext().get(), req, &resp), p_));
    if (g_.json) {
      std::cout << json(std::vector<std::string>(resp.paths().begin(), resp.paths().end())).dump() << "\n";
    } else {
      for (const auto& p : resp.paths()) std::cout << p << "\n";
    }
    return absl::OkStatus();
  }

  absl::Status VaultMetadata(const std::string& path) {
    RETURN_IF_ERROR(Open());
    pb::SecretMetadataRequest req;
    req.set_path(path);
    pb::SecretMetadata resp;
    RETURN_IF_ERROR(FromGrpc(vault()->Metadata(CallContext().get(), req, &resp), p_));
    if (g_.json) {
      json arr = json::array();
      for (const auto& v : resp.versions()) {
        arr.push_back({{"version", v.version()}, {"created", v.created_unix()},
                       {"created_by", v.created_by()}, {"deleted", v.deleted_unix()},
                       {"destroyed", v.destroyed_unix()}, {"used", v.used_unix()}});
      }
      std::cout << arr.dump() << "\n";
      return absl::OkStatus();
    }
    for (const auto& v : resp.versions()) {
      std::cout << path << " v" << v.version() << "  " << When(v.created_unix()) << " by "
                << v.created_by();
      if (v.destroyed_unix()) std::cout << "  DESTROYED " << When(v.destroyed_unix());
      else if (v.deleted_unix()) std::cout << "  deleted " << When(v.deleted_unix());
      if (v.used_unix()) std::cout << "  USED " << When(v.used_unix()) << " (rotate it)";
      std::cout << "\n";
    }
    return absl::OkStatus();
  }

  absl::Status VaultDelete(const std::string& path, const std::vector<int64_t>& versions, bool destroy) {
    RETURN_IF_ERROR(Open());
    pb::DeleteSecretRequest req;
    req.set_path(path);
    for (int64_t v : versions) req.add_versions(v);
    req.set_destroy(destroy);
    pb::DeleteSecretResponse resp;
    RETURN_IF_ERROR(FromGrpc(vault()->Delete(CallContext().get(), req, &resp), p_));
    std::cout << (destroy ? "Destroyed " : "Deleted ") << resp.changed() << " version(s) of " << path << "\n";
    return absl::OkStatus();
  }

  void ShowWrap(const pb::WrapInfo& w) {
    if (g_.json) {
      json approvals = json::array();
      for (const auto& a : w.approvals())
        approvals.push_back({{"approver", a.approver()}, {"at", a.at_unix()}, {"reason", a.reason()}});
      std::cout << json{{"accessor", w.accessor()}, {"path", w.path()}, {"version", w.version()},
                        {"requester", w.requester()}, {"expires", w.expires_unix()},
                        {"approvals_required", w.approvals_required()}, {"approvals", approvals},
                        {"unwrapped", w.unwrapped()}}.dump()
                << "\n";
      return;
    }
    std::cout << w.accessor() << ": " << w.requester() << " reads " << w.path() << " v" << w.version()
              << "; " << w.approvals_size() << " of " << w.approvals_required() << " authorizations";
    for (const auto& a : w.approvals()) std::cout << "\n  " << a.approver() << ": " << a.reason();
    std::cout << "\n  " << (w.unwrapped() ? "unwrapped" : "expires " + When(w.expires_unix())) << "\n";
  }

  absl::Status VaultAuthorize(const std::string& accessor, const std::string& reason) {
    RETURN_IF_ERROR(Open());
    pb::AuthorizeRequest req;
    req.set_accessor(accessor);
    req.set_reason(reason);
    pb::WrapInfo resp;
    RETURN_IF_ERROR(FromGrpc(vault()->Authorize(CallContext().get(), req, &resp), p_));
    ShowWrap(resp);
    return absl::OkStatus();
  }

  absl::Status VaultLookup(const std::string& accessor) {
    RETURN_IF_ERROR(Open());
    pb::WrapRequest req;
    req.set_accessor(accessor);
    pb::WrapInfo resp;
    RETURN_IF_ERROR(FromGrpc(vault()->LookupWrap(CallContext().get(), req, &resp), p_));
    ShowWrap(resp);
    return absl::OkStatus();
  }

  absl::Status VaultCheckIn(const std::string& path) {
    RETURN_IF_ERROR(Open());
    pb::CheckInRequest req;
    req.set_path(path);
    pb::CheckInResponse resp;
    RETURN_IF_ERROR(FromGrpc(vault()->CheckIn(CallContext().get(), req, &resp), p_));
    std::cout << "Checked in " << path << "\n";
    return absl::OkStatus();
  }

  absl::Status RecordingVerify(const std::string& id) {
    RETURN_IF_ERROR(Open());
    pb::GetRecordingRequest req;
    req.set_session_id(id);
    pb::VerifyRecordingResponse resp;
    RETURN_IF_ERROR(FromGrpc(recordings()->VerifyRecording(CallContext().get(), req, &resp), p_));
    if (g_.json) {
      std::cout << json{{"ok", resp.ok()}, {"message", resp.message()}, {"chunks", resp.chunks()},
                        {"sealed", resp.sealed()}}.dump() << "\n";
    } else {
      std::cout << (resp.ok() ? "OK: " : "FAILED: ") << resp.message() << "\n";
    }
    if (!resp.ok()) return absl::DataLossError(StrCat("recording ", id, " failed verification"));
    return absl::OkStatus();
  }

 private:
  absl::Status Open() {
    if (ch_) return absl::OkStatus();
    ASSIGN_OR_RETURN(p_, LoadProfile(g_.home));
    ASSIGN_OR_RETURN(ch_, Connect(p_, true));
    return absl::OkStatus();
  }
  std::unique_ptr<pb::AccessService::Stub> access() { return pb::AccessService::NewStub(ch_); }
  std::unique_ptr<pb::CaService::Stub> ca() { return pb::CaService::NewStub(ch_); }
  std::unique_ptr<pb::RecordingService::Stub> recordings() {
    return pb::RecordingService::NewStub(ch_);
  }
  std::unique_ptr<pb::VaultService::Stub> vault() { return pb::VaultService::NewStub(ch_); }

  absl::Status ShowRequest(const pb::AccessRequest& r, const std::string& headline) {
    if (g_.json) {
      std::cout << RequestJson(r).dump() << "\n";
    } else {
      std::cout << headline << "\n";
      PrintRequest(r);
    }
    return absl::OkStatus();
  }

  void PrintKeys(const pb::TrustedKeys& resp) {
    if (g_.json) {
      json arr = json::array();
      for (const auto& k : resp.keys()) {
        arr.push_back({{"public_key", k.public_key()}, {"fingerprint", k.fingerprint()},
                       {"state", k.state()}, {"created", k.created_unix()}});
      }
      std::cout << arr.dump() << "\n";
      return;
    }
    // authorized_keys lines: the output is usable directly as TrustedUserCAKeys.
    for (const auto& k : resp.keys()) std::cout << k.public_key() << "\n";
  }

  const Globals& g_;
  Profile p_;
  std::shared_ptr<grpc::Channel> ch_;
};

}  // namespace
}  // namespace warden::cli

int main(int argc, char** argv) {
  using namespace warden::cli;
  warden::RestrictGrpcToTls13();
  Globals g;
  CLI::App app{"wardenctl: request, approve and use privileged access through Warden"};
  app.require_subcommand(1);
  app.add_option("--home", g.home, "profile directory (default $WARDEN_HOME or ~/.warden)");
  app.add_flag("--json", g.json, "machine-readable output");
  Cli cli(g);
  absl::Status st;

  std::string controller, ca_file, user, otp;
  auto* login = app.add_subcommand("login", "log in with password + one-time code");
  login->add_option("--controller", controller, "HOST:PORT")->required();
  login->add_option("--ca-file", ca_file, "the controller's CA certificate")->required();
  login->add_option("--user", user, "your user name")->required();
  login->add_option("--otp", otp, "one-time code (prompted if absent)");
  login->callback([&] { st = cli.Login(controller, ca_file, user, otp); });

  app.add_subcommand("whoami", "show who you are logged in as")->callback([&] { st = cli.WhoAmI(); });

  std::string role, reason, ttl;
  auto* request = app.add_subcommand("request", "request access to a role");
  request->add_option("--role", role, "role name")->required();
  request->add_option("--reason", reason, "why, e.g. a change ticket")->required();
  request->add_option("--ttl", ttl, "lease length, e.g. 30m (default: the role's max)");
  request->callback([&] { st = cli.Request(role, reason, ttl); });

  bool all = false;
  auto* requests = app.add_subcommand("requests", "list pending requests");
  requests->add_flag("--all", all, "include decided requests");
  requests->callback([&] { st = cli.Requests(all); });

  std::string id, comment;
  for (const char* verb : {"approve", "deny"}) {
    auto* cmd = app.add_subcommand(verb, std::string(verb) + " a request");
    cmd->add_option("id", id, "request id")->required();
    cmd->add_option("--comment", comment, "note for the audit log");
    cmd->callback([&, verb] { st = cli.Review(verb, id, comment); });
  }
  auto* cancel = app.add_subcommand("cancel", "cancel your own pending request");
  cancel->add_option("id", id, "request id")->required();
  cancel->callback([&] { st = cli.Cancel(id); });

  auto* grants = app.add_subcommand("grants", "list your active grants");
  grants->add_flag("--all", all, "include ended grants (and others' grants, for approvers/admins)");
  grants->callback([&] { st = cli.Grants(all); });

  auto* revoke = app.add_subcommand("revoke", "revoke a grant and its certificates");
  revoke->add_option("id", id, "grant id")->required();
  revoke->add_option("--reason", reason, "why");
  revoke->callback([&] { st = cli.Revoke(id, reason); });

  Cli::SignOptions so;
  so.identity = std::string(getenv("HOME") ? getenv("HOME") : "/root") + "/.ssh/id_ed25519";
  auto add_sign_options = [&so](CLI::App* cmd) {
    cmd->add_option("-i,--identity", so.identity, "private key; IDENTITY.pub is signed");
    // One value per occurrence, so that a repeated option never swallows a positional argument.
    cmd->add_option("--source-address", so.source_addresses, "narrow source-address (CIDR)")
        ->allow_extra_args(false);
    cmd->add_option("--force-command", so.force_command, "force a command");
    cmd->add_option("--extension", so.extensions, "request an extension (e.g. permit-pty)")
        ->allow_extra_args(false);
  };
  auto* cert = app.add_subcommand("cert", "SSH certificates");
  cert->require_subcommand(1);
  auto* cert_sign = cert->add_subcommand("sign", "sign your key under a grant; writes -cert.pub");
  cert_sign->add_option("--grant", so.grant, "grant id")->required();
  add_sign_options(cert_sign);
  cert_sign->callback([&] { st = cli.CertSign(so); });

  int ssh_port = 0;
  std::vector<std::string> ssh_options;
  auto* ssh = app.add_subcommand(
      "ssh", "sign your key for LOGIN's grant and run ssh LOGIN@HOST [-- COMMAND...]");
  ssh->add_option("--grant", so.grant, "grant id (default: your active grant for LOGIN)");
  add_sign_options(ssh);
  ssh->add_option("-p,--port", ssh_port, "ssh port");
  ssh->add_option("--ssh-option", ssh_options, "passed to ssh as -o OPTION (repeatable)")
      ->allow_extra_args(false);
  // Everything from LOGIN@HOST on is ours to interpret: the destination, then the remote command
  // (an optional "--" between them is dropped).
  ssh->prefix_command();
  ssh->footer("usage: wardenctl ssh [OPTIONS] LOGIN@HOST [--] [COMMAND...]");
  ssh->callback([&] {
    std::vector<std::string> rest = ssh->remaining();
    if (rest.empty()) {
      st = absl::InvalidArgumentError("wardenctl ssh needs LOGIN@HOST");
      return;
    }
    const std::string dest = rest[0];
    rest.erase(rest.begin());
    if (!rest.empty() && rest[0] == "--") rest.erase(rest.begin());
    st = cli.Ssh(so, dest, ssh_port, ssh_options, rest);
  });

  int tier = 0;
  bool host = false, finish = false;
  auto* ca = app.add_subcommand("ca", "certificate authority keys");
  ca->require_subcommand(1);
  auto* ca_keys = ca->add_subcommand("keys", "print a tier's trusted user CA keys (TrustedUserCAKeys)");
  ca_keys->add_option("--tier", tier, "tier 0..2");
  ca_keys->add_flag("--host", host, "the SSH host CA instead");
  ca_keys->callback([&] { st = cli.CaKeys(tier, host); });
  auto* ca_rotate = ca->add_subcommand("rotate", "start (or --finish) a CA rotation for a tier");
  ca_rotate->add_option("--tier", tier, "tier 0..2")->required();
  ca_rotate->add_flag("--finish", finish, "drop the retiring key");
  ca_rotate->callback([&] { st = cli.CaRotate(tier, finish); });

  std::string out = "revoked.krl";
  uint64_t if_newer = 0;
  auto* krl = app.add_subcommand("krl", "fetch the KRL (for sshd RevokedKeys)");
  krl->add_option("-o,--output", out, "file to write");
  krl->add_option("--if-newer-than", if_newer, "skip the download if the version is not newer");
  krl->callback([&] { st = cli.KrlFetch(out, if_newer); });

  std::string labels, token_ttl;
  std::vector<std::string> token_hostnames;
  auto* host_cmd = app.add_subcommand("host", "hosts");
  host_cmd->require_subcommand(1);
  auto* host_token = host_cmd->add_subcommand("token", "join tokens");
  host_token->require_subcommand(1);
  auto* host_token_create =
      host_token->add_subcommand("create", "create a single-use join token (admins)");
  host_token_create->add_option("--tier", tier, "the host's tier, 0..2")->required();
  host_token_create->add_option("--hostname", token_hostnames,
                                "the hostname the token enrolls; repeat for a choice of names "
                                "(at least one)");
  host_token_create->add_option("--labels", labels, "k=v,k2=v2");
  host_token_create->add_option("--ttl", token_ttl, "how long the token is valid (default 1h)");
  host_token_create->callback(
      [&] { st = cli.HostTokenCreate(tier, token_hostnames, labels, token_ttl); });

  std::string file, key_file;
  auto* audit = app.add_subcommand("audit", "audit log");
  audit->require_subcommand(1);
  auto* verify = audit->add_subcommand("verify", "verify the hash chain and signatures");
  verify->add_option("--file", file, "verify a local copy instead of exporting from the controller");
  verify->add_option("--key", key_file, "audit public key (with --file)");
  bool allow_unsealed_tail = false;
  verify->add_flag("--allow-unsealed-tail", allow_unsealed_tail,
                   "with --file: accept events after the last signed checkpoint (a copy of a "
                   "running controller's log); nothing proves none were cut off");
  verify->callback([&] { st = cli.AuditVerify(file, key_file, allow_unsealed_tail); });

  Cli::SessionFilter sf;
  auto* sessions = app.add_subcommand("sessions", "list recorded sessions (recording viewers)");
  sessions->add_option("--user", sf.user, "only this login");
  sessions->add_option("--host", sf.host, "only this host id");
  sessions->add_option("--command", sf.command, "only sessions that ran a command containing this");
  sessions->add_option("--grant", sf.grant, "only sessions of this grant");
  sessions->add_option("--since", sf.since, "started at most this long ago, e.g. 2h");
  sessions->add_option("--until", sf.until, "started at least this long ago");
  sessions->callback([&] { st = cli.Sessions(sf); });

  std::string format = "asciicast", export_out;
  auto* recs = app.add_subcommand("recordings", "session recordings");
  recs->require_subcommand(1);
  auto* rec_export = recs->add_subcommand("export", "write a recording as asciicast v2, text, raw or commands");
  rec_export->add_option("id", id, "session id")->required();
  rec_export->add_option("--format", format, "asciicast, text, raw (the terminal's bytes) or commands")->capture_default_str();
  rec_export->add_option("-o,--output", export_out, "file (default: stdout)");
  uint32_t export_terminal = 0;
  rec_export->add_option("--terminal", export_terminal,
                         "which terminal of a multiplexed SSH connection (0: the first)");
  rec_export->callback([&] { st = cli.Export(id, format, export_out, export_terminal); });
  auto* rec_verify = recs->add_subcommand("verify", "check a recording's hash chain and signed seal");
  rec_verify->add_option("id", id, "session id")->required();
  rec_verify->callback([&] { st = cli.RecordingVerify(id); });

  std::string join_mode = "observer";
  auto* join = app.add_subcommand("join", "watch a session live (its screen so far, then as it happens)");
  join->add_option("id", id, "session id")->required();
  join->add_option("--mode", join_mode,
                   "observer, or moderator: counts toward the role's four-eyes quorum and may end "
                   "the session (t)")
      ->capture_default_str();
  join->callback([&] { st = cli.Join(id, join_mode); });
  auto* terminate = app.add_subcommand("terminate", "end a live session now (its moderators)");
  terminate->add_option("id", id, "session id")->required();
  terminate->add_option("--reason", reason, "shown on the operator's terminal and audited");
  terminate->callback([&] { st = cli.Terminate(id, reason); });

  auto* op = app.add_subcommand("operator", "the vault's seal (custodians)");
  op->require_subcommand(1);
  std::string share;
  op->add_subcommand("status", "sealed or not, and unseal progress (custodians and admins)")->callback([&] { st = cli.OperatorStatus(); });
  auto* unseal = op->add_subcommand("unseal", "give your unseal share (prompted for, not echoed)");
  unseal->add_option("share", share, "the share (default: read from the terminal)");
  unseal->callback([&] { st = cli.OperatorUnseal(share); });
  op->add_subcommand("seal", "seal the vault now (break-glass stop)")->callback([&] { st = cli.OperatorSeal(); });

  auto* vault = app.add_subcommand("vault", "secrets: versioned, encrypted, under dual control");
  vault->require_subcommand(1);
  std::string path, value, value_file, accessor, token;
  int64_t version = 0;
  std::vector<int64_t> versions;
  auto* vput = vault->add_subcommand("put", "store a new version (value from --value, --file or stdin)");
  vput->add_option("path", path, "e.g. kv/tier0/domain-admin")->required();
  vput->add_option("--value", value, "the value (visible in your shell history: prefer stdin)");
  vput->add_option("--file", value_file, "read the value from this file");
  vput->callback([&] { st = cli.VaultPut(path, value, value_file); });
  auto* vget = vault->add_subcommand("get", "read a secret (or get a wrapping token under dual control)");
  vget->add_option("path", path)->required();
  vget->add_option("--version", version, "default: the newest");
  vget->callback([&] { st = cli.VaultGet(path, version); });
  auto* vlist = vault->add_subcommand("list", "paths under a prefix");
  vlist->add_option("prefix", path, "e.g. kv/tier0/");
  vlist->callback([&] { st = cli.VaultList(path); });
  auto* vmeta = vault->add_subcommand("metadata", "the versions of a secret");
  vmeta->add_option("path", path)->required();
  vmeta->callback([&] { st = cli.VaultMetadata(path); });
  auto* vdel = vault->add_subcommand("delete", "soft-delete versions (default: the newest)");
  vdel->add_option("path", path)->required();
  vdel->add_option("--versions", versions, "versions to delete")->delimiter(',');
  vdel->callback([&] { st = cli.VaultDelete(path, versions, false); });
  auto* vdestroy = vault->add_subcommand("destroy", "destroy versions: their ciphertext is overwritten");
  vdestroy->add_option("path", path)->required();
  vdestroy->add_option("--versions", versions, "versions to destroy")->delimiter(',')->required();
  vdestroy->callback([&] { st = cli.VaultDelete(path, versions, true); });
  auto* vauth = vault->add_subcommand("authorize", "approve a dual-control read (approvers)");
  vauth->add_option("accessor", accessor)->required();
  vauth->add_option("--reason", reason, "why (audited)")->required();
  vauth->callback([&] { st = cli.VaultAuthorize(accessor, reason); });
  auto* vlookup = vault->add_subcommand("lookup", "what a dual-control request is for, and who approved it");
  vlookup->add_option("accessor", accessor)->required();
  vlookup->callback([&] { st = cli.VaultLookup(accessor); });
  auto* vunwrap = vault->add_subcommand("unwrap", "read the secret behind your authorized wrapping token, once");
  vunwrap->add_option("token", token, "the token (default: read from the terminal)");
  vunwrap->callback([&] { st = cli.VaultUnwrap(token); });
  auto* vcheckin = vault->add_subcommand("checkin", "end your check-out of a secret");
  vcheckin->add_option("path", path)->required();
  vcheckin->callback([&] { st = cli.VaultCheckIn(path); });

  PlayOptions po;
  auto* play = app.add_subcommand("play", "replay a recorded session in this terminal");
  play->add_option("id", id, "session id")->required();
  play->add_option("--speed", po.speed, "playback speed factor")->capture_default_str();
  play->add_option("--max-idle", po.max_idle_s, "seconds: shorten every pause to at most this");
  play->add_option("--from", po.from_s, "seconds: jump here (what came before is drawn at once)");
  play->add_option("--terminal", po.terminal,
                   "which terminal of a multiplexed SSH connection (0: the first)");
  play->callback([&] { st = cli.Play(id, po); });

  CLI11_PARSE(app, argc, argv);
  if (!st.ok()) {
    std::cerr << "wardenctl: " << st.message() << "\n";
    return 1;
  }
  return 0;
}
