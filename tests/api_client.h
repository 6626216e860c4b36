// Logging in to a controller over its real gRPC API, for tests and benchmarks.
#pragma once

#include <grpcpp/grpcpp.h>

#include "common/crypto.h"
#include "common/totp.h"
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

}  // namespace warden::testing
