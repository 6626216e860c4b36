// Restricts gRPC's OpenSSL-based TLS to version 1.3. Call first thing in main(), before any
// gRPC object exists.
//
// gRPC 1.51 has no public knob for the minimum TLS version: it fixes TLS 1.2 as the floor and
// takes the cipher list for TLS <= 1.2 from GRPC_SSL_CIPHER_SUITES. Leaving only a suite that
// needs an RSA certificate, while every Warden TLS key is ECDSA, makes every TLS 1.2 handshake
// fail; TLS 1.3 suites are configured separately by OpenSSL and are unaffected. The test suite
// checks both sides with `openssl s_client -tls1_2` / `-tls1_3`.
#pragma once

#include <cstdlib>

namespace warden {

inline void RestrictGrpcToTls13() {
  setenv("GRPC_SSL_CIPHER_SUITES", "ECDHE-RSA-AES256-GCM-SHA384", 1);
}

}  // namespace warden
