#include "controller/api/services.h"

#include <grpcpp/security/server_credentials.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "controller/api/call.h"
#include "controller/api/services_internal.h"

namespace warden {

void ConfigureServerProcess() {
  RestrictGrpcToTls13();
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // libpq reads PG* variables for whatever a connection's parameters leave out (PGHOSTADDR,
  // PGSERVICE, PGSSLMINPROTOCOLVERSION...): the policy alone says how databases are reached.
  std::vector<std::string> pg;
  for (char** e = environ; *e; e++) {
    if (strncmp(*e, "PG", 2) == 0) pg.emplace_back(*e, strcspn(*e, "="));
  }
  for (const std::string& name : pg) unsetenv(name.c_str());
}

std::shared_ptr<grpc::ServerCredentials> ControllerServerCredentials(const Controller& c) {
  grpc::SslServerCredentialsOptions opts(
      GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = c.ca_pem();
  opts.pem_key_cert_pairs.push_back(
      {std::string(c.server_key_pem().view()), c.server_cert_pem()});
  return grpc::SslServerCredentials(opts);
}

struct ApiServices::Impl {
  explicit Impl(Controller& c)
      : calls(c), auth(MakeAuthService(calls)), access(MakeAccessService(calls)),
        ca(MakeCaService(calls)), hosts(MakeHostService(calls)), audit(MakeAuditService(calls)),
        recordings(MakeRecordingService(calls)), vault(MakeVaultService(calls)),
        databases(MakeDatabaseService(calls)), gateways(MakeGatewayService(calls)) {}

  ApiCalls calls;
  // Declared after `calls`, so destroyed before it.
  std::unique_ptr<grpc::Service> auth, access, ca, hosts, audit, recordings, vault, databases,
      gateways;
};

ApiServices::ApiServices(Controller& c) : impl_(std::make_unique<Impl>(c)) {}
ApiServices::~ApiServices() = default;

void ApiServices::Register(grpc::ServerBuilder& builder) {
  // Hosts hold watch streams for days and ping every 20 s to notice a dead path; accept that.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.RegisterService(impl_->auth.get());
  builder.RegisterService(impl_->access.get());
  builder.RegisterService(impl_->ca.get());
  builder.RegisterService(impl_->hosts.get());
  builder.RegisterService(impl_->audit.get());
  builder.RegisterService(impl_->recordings.get());
  builder.RegisterService(impl_->vault.get());
  builder.RegisterService(impl_->databases.get());
  builder.RegisterService(impl_->gateways.get());
}

}  // namespace warden
