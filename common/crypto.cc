#include "common/crypto.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstring>

namespace warden {

SecretBytes& SecretBytes::operator=(SecretBytes&& o) noexcept {
  if (this != &o) {
    Wipe();
    data_ = std::move(o.data_);
  }
  return *this;
}

void SecretBytes::Wipe() {
  if (!data_.empty()) OPENSSL_cleanse(data_.data(), data_.size());
  data_.clear();
}

std::string OpensslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

namespace {
// OpenSSL 3 looks an algorithm up in its provider tables (under a lock) on every use of
// EVP_sha256(); fetching once keeps that off hot paths such as the audit chain.
const EVP_MD* FetchedSha256() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}
}  // namespace

Bytes Sha256(ByteSpan data) {
  Bytes out(32);
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, FetchedSha256(), nullptr);
  return out;
}

Bytes HmacSha256(ByteSpan key, ByteSpan data) {
  Bytes out(32);
  unsigned int len = 0;
  HMAC(FetchedSha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
       out.data(), &len);
  return out;
}

Bytes RandomBytes(size_t n) {
  Bytes out(n);
  if (n > 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
    // The CSPRNG failing is not recoverable; continuing would issue predictable serials.
    abort();
  }
  return out;
}

uint64_t RandomU64() {
  Bytes b = RandomBytes(8);
  uint64_t v;
  std::memcpy(&v, b.data(), 8);
  return v;
}

std::string Base64Encode(ByteSpan data, bool pad) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                          static_cast<int>(data.size()));
  out.resize(n);
  if (!pad) {
    while (!out.empty() && out.back() == '=') out.pop_back();
  }
  return out;
}

absl::StatusOr<Bytes> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return absl::InvalidArgumentError("base64 text length is not a multiple of 4");
  }
  for (char c : text) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) {
      return absl::InvalidArgumentError("base64 text contains a character outside the alphabet");
    }
  }
  Bytes out(3 * (text.size() / 4));
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return absl::InvalidArgumentError("malformed base64");
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad++;
  if (text.size() > 1 && text[text.size() - 2] == '=') pad++;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string HexEncode(ByteSpan data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

absl::StatusOr<Bytes> HexDecode(std::string_view text) {
  if (text.size() % 2 != 0) return absl::InvalidArgumentError("hex text has odd length");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Bytes out(text.size() / 2);
  for (size_t i = 0; i < out.size(); i++) {
    int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return absl::InvalidArgumentError("hex text contains a non-hex digit");
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

bool ConstantTimeEquals(ByteSpan a, ByteSpan b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace {
// Everything written to a memory BIO, as a string.
std::string MemBioText(BIO* bio) {
  char* p = nullptr;
  const long n = BIO_get_mem_data(bio, &p);
  return std::string(p, static_cast<size_t>(n));
}
}  // namespace

absl::StatusOr<EvpPkeyPtr> ReadPrivateKeyPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return absl::InvalidArgumentError("cannot read PEM private key: " + OpensslError());
  return key;
}

absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError("cannot write PEM private key: " + OpensslError());
  }
  return MemBioText(bio.get());
}

absl::StatusOr<X509Ptr> ReadCertificatePem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return absl::InvalidArgumentError("cannot read PEM certificate: " + OpensslError());
  return cert;
}

namespace {
std::string NameEntry(X509_NAME* name, int nid) {
  int idx = X509_NAME_get_index_by_NID(name, nid, -1);
  if (idx < 0) return "";
  ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}
}  // namespace

absl::StatusOr<CertificateSubject> ReadCertificateSubject(std::string_view pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ReadCertificatePem(pem));
  CertificateSubject out;
  X509_NAME* subject = X509_get_subject_name(cert.get());
  out.common_name = NameEntry(subject, NID_commonName);
  out.organizational_unit = NameEntry(subject, NID_organizationalUnitName);
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) {
    return absl::InvalidArgumentError("certificate has an unreadable notAfter");
  }
  out.not_after = static_cast<int64_t>(timegm(&tm));
  return out;
}

absl::StatusOr<std::string> CertificateToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(bio.get(), cert) != 1) {
    return absl::InternalError("cannot write PEM certificate: " + OpensslError());
  }
  return MemBioText(bio.get());
}

absl::StatusOr<EvpPkeyPtr> GenerateP256Key() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return absl::InternalError("cannot generate P-256 key: " + OpensslError());
  return key;
}

absl::StatusOr<std::string> CertificateRequestPem(EVP_PKEY* key) {
  X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_pubkey(req.get(), key) != 1 ||
      X509_REQ_sign(req.get(), key, EVP_sha256()) <= 0) {
    return absl::InternalError("cannot build a certificate request: " + OpensslError());
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1) {
    return absl::InternalError("cannot encode a certificate request: " + OpensslError());
  }
  return MemBioText(bio.get());
}

absl::StatusOr<EvpPkeyPtr> VerifiedCertificateRequestKey(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) return absl::InvalidArgumentError("expected a PEM certificate signing request");
  EvpPkeyPtr key(X509_REQ_get_pubkey(req.get()));
  if (!key || X509_REQ_verify(req.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the certificate signing request's signature does not verify");
  }
  if (!EVP_PKEY_is_a(key.get(), "EC") && !EVP_PKEY_is_a(key.get(), "ED25519")) {
    return absl::InvalidArgumentError("certificate keys must be ECDSA or Ed25519");
  }
  return key;
}

}  // namespace warden
