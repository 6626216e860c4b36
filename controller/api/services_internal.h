// The API's services, one per file (controller/api/<domain>_service.cc), each built on the
// machinery in call.h. ApiServices owns them and registers them; `calls` must outlive each.
#pragma once

#include <memory>

#include <grpcpp/impl/service_type.h>

namespace warden {

struct ApiCalls;

std::unique_ptr<grpc::Service> MakeAuthService(ApiCalls& calls);
std::unique_ptr<grpc::Service> MakeAccessService(ApiCalls& calls);
std::unique_ptr<grpc::Service> MakeCaService(ApiCalls& calls);
std::unique_ptr<grpc::Service> MakeHostService(ApiCalls& calls);
std::unique_ptr<grpc::Service> MakeAuditService(ApiCalls& calls);
std::unique_ptr<grpc::Service> MakeRecordingService(ApiCalls& calls);
std::unique_ptr<grpc::Service> MakeVaultService(ApiCalls& calls);
std::unique_ptr<grpc::Service> MakeDatabaseService(ApiCalls& calls);
std::unique_ptr<grpc::Service> MakeGatewayService(ApiCalls& calls);

}  // namespace warden
