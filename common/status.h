// Error vocabulary shared by all C++ code: absl::Status / absl::StatusOr, plus the two macros
// every fallible call site uses. Conversion to gRPC, PAM or NSS codes happens in exactly one
// function at each boundary.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define WARDEN_CONCAT_INNER_(a, b) a##b
#define WARDEN_CONCAT_(a, b) WARDEN_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status warden_status_ = (expr);    \
    if (!warden_status_.ok()) return warden_status_; \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(*tmp)

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(WARDEN_CONCAT_(warden_statusor_, __LINE__), lhs, expr)
