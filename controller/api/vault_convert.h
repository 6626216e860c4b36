// VaultService's messages <-> the vault's domain (controller/core/vault.h).
#pragma once

#include "controller/core/rotation.h"
#include "controller/core/vault.h"
#include "warden/v1/vault.pb.h"

namespace warden {

void ToProto(const VaultStatus& st, v1::VaultStatus* out);
void ToProto(const WrapInfo& w, v1::WrapInfo* out);
// A read of a control-grouped path carries the wrapping token and its state instead of the value.
void ToProto(const SecretRead& r, v1::GetSecretResponse* out);
void ToProto(const ReconcileResult& r, v1::ReconcileResult* out);
void ToProto(const RotationStatus& s, v1::RotationTarget* out);

}  // namespace warden
