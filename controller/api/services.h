// gRPC adapters: authenticate the caller from its mTLS certificate, audit intent, convert from
// proto, call the core, convert back, audit outcome. No business rules live here.
#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>

#include "common/grpc_tls.h"
#include "controller/controller.h"

namespace warden {

// The largest request the API accepts; nothing legitimate comes close.
inline constexpr int kMaxApiMessageBytes = 1 << 20;

// Maps an internal status to a gRPC status (same code space; message kept).
grpc::Status ToGrpcStatus(const absl::Status& st);

// Credentials for the controller's server: TLS 1.3, client certificates verified against the
// cluster CA when presented (Login is the one call that works without one).
std::shared_ptr<grpc::ServerCredentials> ControllerServerCredentials(const Controller& c);

// Process-wide settings for a server built on gRPC; call first thing in main(). Turns off
// abseil's mutex deadlock detector, which gRPC's mutexes otherwise pay for on every lock in
// Debian's abseil build, and clears libpq's PG* environment variables.
void ConfigureServerProcess();

// Registers every API service on `builder`; the returned object must outlive the server.
class ApiServices {
 public:
  explicit ApiServices(Controller& c);
  ~ApiServices();
  void Register(grpc::ServerBuilder& builder);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace warden
