#include "cli/client.h"

#include <openssl/x509.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/crypto.h"
#include "common/strings.h"

namespace warden::cli {

std::string DefaultHome() {
  if (const char* h = getenv("WARDEN_HOME"); h && *h) return h;
  const char* home = getenv("HOME");
  return StrCat(home ? home : "/root", "/.warden");
}

absl::StatusOr<Profile> LoadProfile(const std::string& home) {
  Profile p;
  p.home = home;
  auto text = ReadFile(p.profile_path());
  if (!text.ok()) {
    return absl::FailedPreconditionError(StrCat(
        "not logged in (no ", p.profile_path(), "); run: wardenctl login --controller HOST:PORT "
        "--ca-file CA.crt --user NAME"));
  }
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(StrCat(p.profile_path(), " is corrupt; run wardenctl login again"));
  }
  p.controller = j.value("controller", "");
  p.user = j.value("user", "");
  return p;
}

absl::Status SaveProfile(const Profile& p) {
  mkdir(p.home.c_str(), 0700);
  nlohmann::json j = {{"controller", p.controller}, {"user", p.user}};
  return WriteFileAtomic(p.profile_path(), j.dump(2) + "\n", 0600);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const Profile& p, bool client_cert) {
  grpc::SslCredentialsOptions opts;
  ASSIGN_OR_RETURN(opts.pem_root_certs, ReadFile(p.ca_path()));
  if (client_cert) {
    auto key = ReadFile(p.key_path());
    auto cert = ReadFile(p.cert_path());
    if (!key.ok() || !cert.ok()) {
      return absl::FailedPreconditionError("no login certificate; run wardenctl login");
    }
    // An expired login fails the TLS handshake with an unhelpful error; say it plainly instead.
    auto x509 = ReadCertificatePem(*cert);
    if (!x509.ok()) return absl::DataLossError(p.cert_path() + " is corrupt; run wardenctl login");
    if (X509_cmp_time(X509_get0_notAfter(x509->get()), nullptr) <= 0) {
      return absl::UnauthenticatedError(StrCat("your login as ", p.user,
                                               " has expired; run wardenctl login again"));
    }
    opts.pem_private_key = *key;
    opts.pem_cert_chain = *cert;
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(p.controller, grpc::SslCredentials(opts), args);
}

std::unique_ptr<grpc::ClientContext> CallContext() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
  return ctx;
}

absl::Status FromGrpc(const grpc::Status& st, const Profile& p) {
  if (st.ok()) return absl::OkStatus();
  std::string msg = st.error_message();
  switch (st.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      if (msg.find("failed to connect") != std::string::npos ||
          msg.find("Connection refused") != std::string::npos ||
          msg.find("Socket closed") != std::string::npos || msg.find("handshake") != std::string::npos) {
        msg = StrCat("cannot reach the controller at ", p.controller, " (", msg,
                           "); is it running, and is ", p.ca_path(), " its CA?");
      }
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      msg = StrCat("the controller at ", p.controller, " did not answer in time");
      break;
    default:
      break;
  }
  return absl::Status(static_cast<absl::StatusCode>(st.error_code()), msg);
}

}  // namespace warden::cli
