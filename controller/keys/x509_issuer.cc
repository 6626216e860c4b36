#include "controller/keys/x509_issuer.h"

#include <openssl/x509v3.h>

#include "common/strings.h"

namespace warden {
namespace {

void DerLength(Bytes& out, size_t len) {
  if (len < 0x80) {
    out.push_back(static_cast<uint8_t>(len));
    return;
  }
  Bytes tmp;
  for (size_t l = len; l; l >>= 8) tmp.insert(tmp.begin(), static_cast<uint8_t>(l));
  out.push_back(static_cast<uint8_t>(0x80 | tmp.size()));
  out.insert(out.end(), tmp.begin(), tmp.end());
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return absl::InternalError("cannot build X.509 extension: " + OpensslError());
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return absl::InternalError("cannot add X.509 extension");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EvpPkeyPtr> KeyStorePublicEvp(KeyStore& store, std::string_view label) {
  ASSIGN_OR_RETURN(PublicKey pub, store.GetPublicKey(label));
  return ToEvpPkey(pub);
}

absl::StatusOr<X509Ptr> IssueX509(KeyStore& store, std::string_view ca_label, X509* issuer,
                                  EVP_PKEY* subject_key, const X509Profile& p) {
  ASSIGN_OR_RETURN(PublicKey ca_pub, store.GetPublicKey(ca_label));
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  Bytes serial = RandomBytes(16);
  serial[0] &= 0x7f;  // positive INTEGER
  std::unique_ptr<BIGNUM, OsslDeleter<BN_free>> bn(BN_bin2bn(serial.data(), 16, nullptr));
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()));
  X509NamePtr name(X509_NAME_new());
  X509_NAME_add_entry_by_txt(name.get(), "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("Warden"), -1, -1, 0);
  if (!p.organizational_unit.empty()) {
    X509_NAME_add_entry_by_txt(name.get(), "OU", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(p.organizational_unit.c_str()),
                               -1, -1, 0);
  }
  X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(p.common_name.c_str()), -1, -1,
                             0);
  X509_set_subject_name(cert.get(), name.get());
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name.get());
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), p.not_before_unix);
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), p.not_after_unix);
  if (X509_set_pubkey(cert.get(), subject_key) != 1) {
    return absl::InternalError("cannot set certificate key: " + OpensslError());
  }
  X509* iss = issuer ? issuer : cert.get();
  RETURN_IF_ERROR(AddExtension(cert.get(), iss, NID_basic_constraints,
                               p.is_ca ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExtension(cert.get(), iss, NID_key_usage,
                               p.is_ca ? "critical,keyCertSign,cRLSign"
                                       : "critical,digitalSignature"));
  RETURN_IF_ERROR(AddExtension(cert.get(), iss, NID_subject_key_identifier, "hash"));
  if (issuer) RETURN_IF_ERROR(AddExtension(cert.get(), iss, NID_authority_key_identifier, "keyid"));
  std::vector<std::string> eku;
  if (p.server_auth) eku.push_back("serverAuth");
  if (p.client_auth) eku.push_back("clientAuth");
  if (!eku.empty()) {
    RETURN_IF_ERROR(AddExtension(cert.get(), iss, NID_ext_key_usage, StrJoin(eku, ",")));
  }
  std::vector<std::string> san;
  for (const auto& d : p.dns_names) san.push_back("DNS:" + d);
  for (const auto& ip : p.ip_addresses) san.push_back("IP:" + ip);
  if (!san.empty()) {
    RETURN_IF_ERROR(AddExtension(cert.get(), iss, NID_subject_alt_name, StrJoin(san, ",")));
  }

  // Fill in the signature AlgorithmIdentifier (inside and outside the TBS) by signing once with a
  // throwaway key of the CA's algorithm, then replace the signature with the KeyStore's.
  const bool ed = ca_pub.type == KeyType::kEd25519;
  EvpPkeyPtr scratch(ed ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519") : EVP_EC_gen("P-256"));
  if (!scratch || X509_sign(cert.get(), scratch.get(), ed ? nullptr : EVP_sha256()) <= 0) {
    return absl::InternalError("cannot prepare certificate signature: " + OpensslError());
  }
  unsigned char* tbs = nullptr;
  int tbs_len = i2d_re_X509_tbs(cert.get(), &tbs);
  if (tbs_len <= 0) return absl::InternalError("cannot encode TBSCertificate");
  Bytes tbs_der(tbs, tbs + tbs_len);
  OPENSSL_free(tbs);
  ASSIGN_OR_RETURN(RawSignature raw, store.Sign(ca_label, tbs_der));
  ASSIGN_OR_RETURN(Bytes sig, RawSignatureToDer(raw));
  const ASN1_BIT_STRING* unused_sig;
  const X509_ALGOR* alg;
  X509_get0_signature(&unused_sig, &alg, cert.get());
  unsigned char* alg_der = nullptr;
  int alg_len = i2d_X509_ALGOR(alg, &alg_der);
  if (alg_len <= 0) return absl::InternalError("cannot encode AlgorithmIdentifier");

  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
  Bytes body = tbs_der;
  body.insert(body.end(), alg_der, alg_der + alg_len);
  OPENSSL_free(alg_der);
  body.push_back(0x03);
  DerLength(body, sig.size() + 1);
  body.push_back(0x00);  // no unused bits
  body.insert(body.end(), sig.begin(), sig.end());
  Bytes der = {0x30};
  DerLength(der, body.size());
  der.insert(der.end(), body.begin(), body.end());
  const unsigned char* dp = der.data();
  X509Ptr out(d2i_X509(nullptr, &dp, static_cast<long>(der.size())));
  if (!out) return absl::InternalError("cannot decode issued certificate: " + OpensslError());
  EvpPkeyPtr ca_evp;
  ASSIGN_OR_RETURN(ca_evp, ToEvpPkey(ca_pub));
  if (X509_verify(out.get(), ca_evp.get()) != 1) {
    return absl::InternalError("issued certificate does not verify with the CA key");
  }
  return out;
}

}  // namespace warden
