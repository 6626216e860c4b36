// SSH certificates and the CA: cert sign, ssh, ca keys, ca rotate, krl.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include "cli/commands/commands.h"
#include "common/files.h"
#include "common/strings.h"
#include "warden/v1/access.grpc.pb.h"
#include "warden/v1/ca.grpc.pb.h"

namespace pb = ::warden::v1;
using nlohmann::json;

namespace warden::cli {
namespace {

void PrintKeys(Context& ctx, const pb::TrustedKeys& resp) {
  if (ctx.out().json()) {
    json arr = json::array();
    for (const auto& k : resp.keys()) {
      arr.push_back({{"public_key", k.public_key()}, {"fingerprint", k.fingerprint()},
                     {"state", k.state()}, {"created", k.created_unix()}});
    }
    ctx.out().Json(arr);
    return;
  }
  // authorized_keys lines: the output is usable directly as TrustedUserCAKeys.
  for (const auto& k : resp.keys()) ctx.out().text() << k.public_key() << "\n";
}

struct SignOptions {
  std::string grant;
  std::string identity;  // private key path; the public key is IDENTITY.pub
  std::vector<std::string> source_addresses;
  std::string force_command;
  std::vector<std::string> extensions;
};

// Signs IDENTITY.pub under the grant and writes IDENTITY-cert.pub.
absl::StatusOr<pb::SignUserKeyResponse> Sign(Context& ctx, const SignOptions& o, std::string* cert_path) {
  RETURN_IF_ERROR(ctx.Open());
  ASSIGN_OR_RETURN(std::string pub, ReadFile(o.identity + ".pub"));
  pb::SignUserKeyRequest req;
  req.set_grant_id(o.grant);
  req.set_public_key(pub);
  for (const auto& s : o.source_addresses) req.add_source_addresses(s);
  req.set_force_command(o.force_command);
  for (const auto& e : o.extensions) req.add_extensions(e);
  pb::SignUserKeyResponse resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::CaService>()->SignUserKey(CallContext().get(), req, &resp), ctx.profile()));
  *cert_path = o.identity + "-cert.pub";
  RETURN_IF_ERROR(WriteFileAtomic(*cert_path, resp.certificate() + "\n", 0644));
  return resp;
}

absl::Status CertSign(Context& ctx, const SignOptions& o) {
  std::string path;
  ASSIGN_OR_RETURN(pb::SignUserKeyResponse resp, Sign(ctx, o, &path));
  if (ctx.out().json()) {
    ctx.out().Json(json{{"certificate_file", path}, {"serial", std::to_string(resp.serial())},
                      {"key_id", resp.key_id()}, {"principal", resp.principal()},
                      {"valid_after", resp.valid_after_unix()},
                      {"valid_before", resp.valid_before_unix()}}
                     );
  } else {
    ctx.out().text() << "Wrote " << path << "\n"
              << "  principal: " << resp.principal() << "\n"
              << "  key id:    " << resp.key_id() << "\n"
              << "  valid:     " << When(resp.valid_after_unix()) << " to "
              << When(resp.valid_before_unix()) << "\n"
              << "  CA:        " << resp.ca_fingerprint() << "\n";
  }
  return absl::OkStatus();
}

// Finds the grant for `login`, signs the key, and execs ssh.
absl::Status Ssh(Context& ctx, SignOptions o, const std::string& destination, int port,
                 const std::vector<std::string>& ssh_options,
                 const std::vector<std::string>& command) {
  const size_t at = destination.find('@');
  if (at == std::string::npos) {
    return absl::InvalidArgumentError("destination must be LOGIN@HOST, e.g. adm-alice-7k2f@db1");
  }
  const std::string login = destination.substr(0, at);
  if (o.grant.empty()) {
    RETURN_IF_ERROR(ctx.Open());
    pb::ListGrantsResponse resp;
    RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::AccessService>()->ListGrants(CallContext().get(), {}, &resp), ctx.profile()));
    for (const auto& g : resp.grants()) {
      if (g.login() == login) o.grant = g.id();
    }
    if (o.grant.empty()) {
      return absl::NotFoundError(StrCat("you have no active grant for login ", login,
                                              "; see wardenctl grants, or request access"));
    }
  }
  std::string cert_path;
  RETURN_IF_ERROR(Sign(ctx, o, &cert_path).status());
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

absl::Status CaKeys(Context& ctx, int tier, bool host) {
  RETURN_IF_ERROR(ctx.Open());
  pb::GetTrustedKeysRequest req;
  req.set_tier(tier);
  req.set_host_ca(host);
  pb::TrustedKeys resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::CaService>()->GetTrustedKeys(CallContext().get(), req, &resp), ctx.profile()));
  PrintKeys(ctx, resp);
  return absl::OkStatus();
}

absl::Status CaRotate(Context& ctx, int tier, bool finish, const std::string& algorithm) {
  RETURN_IF_ERROR(ctx.Open());
  pb::RotateCaRequest req;
  req.set_tier(tier);
  req.set_finish(finish);
  req.set_algorithm(algorithm);
  pb::TrustedKeys resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::CaService>()->RotateCa(CallContext().get(), req, &resp), ctx.profile()));
  if (!ctx.out().json()) {
    ctx.out().note() << (finish ? "Rotation finished; the old key is no longer trusted.\n"
                         : "New key is issuing; the old key stays trusted until --finish. "
                           "Push the new trusted set to tier hosts before finishing.\n");
  }
  PrintKeys(ctx, resp);
  return absl::OkStatus();
}

absl::Status KrlFetch(Context& ctx, const std::string& out, uint64_t if_newer_than) {
  RETURN_IF_ERROR(ctx.Open());
  pb::GetKrlRequest req;
  req.set_if_newer_than(if_newer_than);
  pb::Krl resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::CaService>()->GetKrl(CallContext().get(), req, &resp), ctx.profile()));
  if (!resp.not_modified()) RETURN_IF_ERROR(WriteFileAtomic(out, resp.krl(), 0644));
  if (ctx.out().json()) {
    ctx.out().Json(json{{"version", resp.version()}, {"not_modified", resp.not_modified()},
                      {"revoked_certificates", resp.revoked_certificates()}, {"file", out}}
                     );
  } else if (resp.not_modified()) {
    ctx.out().text() << "KRL version " << resp.version() << " unchanged; " << out << " left as is\n";
  } else {
    ctx.out().text() << "Wrote KRL version " << resp.version() << " (" << resp.revoked_certificates()
              << " revoked certificates) to " << out << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddCertCommands(CLI::App& app, Context& ctx) {
  // The option values live as long as the callbacks that read them.
  struct Flags {
    SignOptions so;
    int ssh_port = 0;
    std::vector<std::string> ssh_options;
    int tier = 0;
    bool host = false, finish = false;
    std::string algorithm;
    std::string out = "revoked.krl";
    uint64_t if_newer = 0;
  };
  auto f = std::make_shared<Flags>();
  SignOptions& so = f->so;
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
  cert_sign->callback([&ctx, f] { ctx.status() = CertSign(ctx, f->so); });

  auto* ssh = app.add_subcommand(
      "ssh", "sign your key for LOGIN's grant and run ssh LOGIN@HOST [-- COMMAND...]");
  ssh->add_option("--grant", so.grant, "grant id (default: your active grant for LOGIN)");
  add_sign_options(ssh);
  ssh->add_option("-p,--port", f->ssh_port, "ssh port");
  ssh->add_option("--ssh-option", f->ssh_options, "passed to ssh as -o OPTION (repeatable)")
      ->allow_extra_args(false);
  // Everything from LOGIN@HOST on is ours to interpret: the destination, then the remote command
  // (an optional "--" between them is dropped).
  ssh->prefix_command();
  ssh->footer("usage: wardenctl ssh [OPTIONS] LOGIN@HOST [--] [COMMAND...]");
  ssh->callback([&ctx, f, ssh] {
    std::vector<std::string> rest = ssh->remaining();
    if (rest.empty()) {
      ctx.status() = absl::InvalidArgumentError("wardenctl ssh needs LOGIN@HOST");
      return;
    }
    const std::string dest = rest[0];
    rest.erase(rest.begin());
    if (!rest.empty() && rest[0] == "--") rest.erase(rest.begin());
    ctx.status() = Ssh(ctx, f->so, dest, f->ssh_port, f->ssh_options, rest);
  });

  auto* ca = app.add_subcommand("ca", "certificate authority keys");
  ca->require_subcommand(1);
  auto* ca_keys = ca->add_subcommand("keys", "print a tier's trusted user CA keys (TrustedUserCAKeys)");
  ca_keys->add_option("--tier", f->tier, "tier 0..2");
  ca_keys->add_flag("--host", f->host, "the SSH host CA instead");
  ca_keys->callback([&ctx, f] { ctx.status() = CaKeys(ctx, f->tier, f->host); });
  auto* ca_rotate = ca->add_subcommand("rotate", "start (or --finish) a CA rotation for a tier");
  ca_rotate->add_option("--tier", f->tier, "tier 0..2")->required();
  ca_rotate->add_flag("--finish", f->finish, "drop the retiring key");
  ca_rotate->add_option("--algorithm", f->algorithm,
                        "the new key's: ed25519 or ecdsa-p256 (default: the current key's)");
  ca_rotate->callback(
      [&ctx, f] { ctx.status() = CaRotate(ctx, f->tier, f->finish, f->algorithm); });

  auto* krl = app.add_subcommand("krl", "fetch the KRL (for sshd RevokedKeys)");
  krl->add_option("-o,--output", f->out, "file to write");
  krl->add_option("--if-newer-than", f->if_newer, "skip the download if the version is not newer");
  krl->callback([&ctx, f] { ctx.status() = KrlFetch(ctx, f->out, f->if_newer); });
}

}  // namespace warden::cli
