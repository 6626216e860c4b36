// An in-process controller behind its real gRPC API, and logging in to it, for tests and
// benchmarks.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <sstream>

#include "common/crypto.h"
#include "common/totp.h"
#include "controller/api/services.h"
#include "tests/test_util.h"
#include "warden/v1/auth.grpc.pb.h"

namespace warden::testing {

// Channel to 127.0.0.1:port trusting `ca_pem`; with a key and certificate, as that client.
inline std::shared_ptr<grpc::Channel> ApiChannel(int port, const std::string& ca_pem,
                                                 const std::string& key_pem = "",
                                                 const std::string& cert_pem = "",
                                                 const grpc::ChannelArguments& args = {}) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = ca_pem;
  o.pem_private_key = key_pem;
  o.pem_cert_chain = cert_pem;
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(o),
                                   args);
}

struct ApiLogin {
  grpc::Status status;
  std::string key_pem, cert_pem;  // the client identity, when status is OK
};

// Password + TOTP login, as wardenctl does it. `otp` empty: the current code of `totp_secret`.
inline ApiLogin LoginOverApi(int port, const std::string& ca_pem, const std::string& user,
                             const std::string& password, const std::string& totp_secret,
                             const std::string& otp = "") {
  auto key = GenerateP256Key();
  v1::LoginRequest lr;
  lr.set_user(user);
  lr.set_password(password);
  lr.set_otp(otp.empty() ? TotpCode(*Base32Decode(totp_secret), time(nullptr) / 30) : otp);
  lr.set_csr_pem(*CertificateRequestPem(key->get()));
  v1::LoginResponse resp;
  grpc::ClientContext ctx;
  ApiLogin out;
  out.status = v1::AuthService::NewStub(ApiChannel(port, ca_pem))->Login(&ctx, lr, &resp);
  if (out.status.ok()) {
    out.key_pem = *PrivateKeyToPem(key->get());
    out.cert_pem = resp.certificate_pem();
  }
  return out;
}

// A fresh data directory (SoftHSM2 token, every key, TLS material), operators admin, alice, bob
// and carol, and the API served on 127.0.0.1 with mutual TLS, all in this process.
class ControllerHarness {
 public:
  // `edit_policy`, if given, may change the data directory's policy.yaml before the controller
  // opens it.
  absl::Status Start(int audit_checkpoint_every = 1000,
                     const std::function<void(const std::string& policy_path)>& edit_policy = {}) {
    InitOptions o;
    o.data_dir = dir_ / "data";
    std::ostringstream out;
    RETURN_IF_ERROR(InitDataDir(o, out));
    if (edit_policy) edit_policy(dir_ / "data/policy.yaml");
    // init prints the bootstrap admin's secrets once; keep them to log in as admin.
    std::istringstream lines(out.str());
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::string a, b, c;
      words >> a >> b >> c;
      if (a == "password:") users_["admin"].password = b;
      if (a == "TOTP" && b == "secret:") users_["admin"].totp_secret = c;
    }
    ASSIGN_OR_RETURN(ControllerConfig config, LoadControllerConfig(dir_ / "data/controller.yaml"));
    config.audit_checkpoint_every = audit_checkpoint_every;
    ASSIGN_OR_RETURN(controller_, Controller::Open(config, clock_));
    RETURN_IF_ERROR(controller_->audit().Open());
    for (const char* u : {"alice", "bob", "carol"}) {
      ASSIGN_OR_RETURN(users_[u], controller_->auth().CreateUser(u));
    }
    services_ = std::make_unique<ApiServices>(*controller_);
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", ControllerServerCredentials(*controller_), &port_);
    b.SetMaxReceiveMessageSize(kMaxApiMessageBytes);
    services_->Register(b);
    server_ = b.BuildAndStart();
    if (!server_) return absl::UnavailableError("cannot start the gRPC server");
    return absl::OkStatus();
  }
  ~ControllerHarness() { Stop(); }
  // Shuts the server down as warden-controller does on SIGTERM; returns once every call is done.
  void Stop() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }

  Controller& controller() { return *controller_; }
  int port() const { return port_; }
  const TempDir& dir() const { return dir_; }
  NewUserSecrets& user(const std::string& name) { return users_[name]; }

  ApiLogin Login(const std::string& name, const std::string& otp = "") {
    return LoginOverApi(port_, controller_->ca_pem(), name, users_[name].password,
                        users_[name].totp_secret, otp);
  }
  std::shared_ptr<grpc::Channel> Channel(const ApiLogin& login,
                                         const grpc::ChannelArguments& args = {}) {
    return ApiChannel(port_, controller_->ca_pem(), login.key_pem, login.cert_pem, args);
  }

 private:
  TempDir dir_;
  SystemClock clock_;
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<ApiServices> services_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::map<std::string, NewUserSecrets> users_;
};

}  // namespace warden::testing
