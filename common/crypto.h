// OpenSSL RAII wrappers and the small primitives every component needs: hashing, HMAC,
// randomness, base64 and hex.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"

namespace warden {

template <auto Fn>
struct OsslDeleter {
  template <typename T>
  void operator()(T* p) const { Fn(p); }
};

using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OsslDeleter<EVP_PKEY_free>>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OsslDeleter<EVP_PKEY_CTX_free>>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, OsslDeleter<EVP_MD_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, OsslDeleter<X509_free>>;
using X509ReqPtr = std::unique_ptr<X509_REQ, OsslDeleter<X509_REQ_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, OsslDeleter<X509_NAME_free>>;
using BioPtr = std::unique_ptr<BIO, OsslDeleter<BIO_free_all>>;

// The most recent OpenSSL error as text, for error messages.
std::string OpensslError();

Bytes Sha256(ByteSpan data);
Bytes HmacSha256(ByteSpan key, ByteSpan data);
// Fills `n` bytes from the OpenSSL CSPRNG.
Bytes RandomBytes(size_t n);
uint64_t RandomU64();

std::string Base64Encode(ByteSpan data, bool pad = true);
absl::StatusOr<Bytes> Base64Decode(std::string_view text);
std::string HexEncode(ByteSpan data);
absl::StatusOr<Bytes> HexDecode(std::string_view text);

// Constant-time equality for MACs and codes.
bool ConstantTimeEquals(ByteSpan a, ByteSpan b);

// PEM helpers.
absl::StatusOr<EvpPkeyPtr> ReadPrivateKeyPem(std::string_view pem);
absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key);
absl::StatusOr<X509Ptr> ReadCertificatePem(std::string_view pem);
absl::StatusOr<std::string> CertificateToPem(X509* cert);

// The parts of a client certificate's subject that identify a caller, and its end of validity.
struct CertificateSubject {
  std::string common_name;
  std::string organizational_unit;
  int64_t not_after = 0;  // unix seconds
};
absl::StatusOr<CertificateSubject> ReadCertificateSubject(std::string_view pem);
absl::StatusOr<EvpPkeyPtr> GenerateP256Key();
// A PKCS#10 request for `key`, signed by it (proof of possession), as PEM.
absl::StatusOr<std::string> CertificateRequestPem(EVP_PKEY* key);
// The public key of a PEM PKCS#10 request whose self-signature verifies; only ECDSA and Ed25519
// keys are accepted (every Warden TLS identity is one of those).
absl::StatusOr<EvpPkeyPtr> VerifiedCertificateRequestKey(std::string_view pem);

}  // namespace warden
