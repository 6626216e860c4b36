// login and whoami: the profile directory and who it says you are.
#include <openssl/crypto.h>

#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli/commands/commands.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/strings.h"
#include "warden/v1/auth.grpc.pb.h"

namespace pb = ::warden::v1;
using nlohmann::json;

namespace warden::cli {
namespace {

absl::Status Login(Context& ctx, const std::string& controller, const std::string& ca_file,
                   const std::string& user, std::string otp) {
  Profile p;
  p.home = ctx.home();
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
  if (ctx.out().json()) {
    ctx.out().Json(json{{"user", user}, {"expires", resp.expires_unix()}});
  } else {
    ctx.out().text() << "Logged in to " << controller << " as " << user << " until "
              << When(resp.expires_unix()) << "\n";
  }
  return absl::OkStatus();
}

absl::Status WhoAmI(Context& ctx) {
  RETURN_IF_ERROR(ctx.Open());
  pb::WhoAmIResponse resp;
  RETURN_IF_ERROR(FromGrpc(ctx.Stub<pb::AuthService>()->WhoAmI(CallContext().get(), {}, &resp), ctx.profile()));
  if (ctx.out().json()) {
    ctx.out().Json(json{{"user", resp.user()}, {"groups", resp.groups()}});
  } else {
    ctx.out().text() << resp.user() << " (groups: " << StrJoin(resp.groups(), ", ") << ")\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddAuthCommands(CLI::App& app, Context& ctx) {
  // The option values live as long as the callbacks that read them.
  struct Flags {
    std::string controller, ca_file, user, otp;
  };
  auto f = std::make_shared<Flags>();
  auto* login = app.add_subcommand("login", "log in with password + one-time code");
  login->add_option("--controller", f->controller, "HOST:PORT")->required();
  login->add_option("--ca-file", f->ca_file, "the controller's CA certificate")->required();
  login->add_option("--user", f->user, "your user name")->required();
  login->add_option("--otp", f->otp, "one-time code (prompted if absent)");
  login->callback([&ctx, f] { ctx.status() = Login(ctx, f->controller, f->ca_file, f->user, f->otp); });

  app.add_subcommand("whoami", "show who you are logged in as")->callback([&ctx] { ctx.status() = WhoAmI(ctx); });
}

}  // namespace warden::cli
