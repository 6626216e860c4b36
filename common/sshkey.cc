#include "common/sshkey.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "common/strings.h"
#include "common/sshbuf.h"

namespace warden {
namespace {

struct TypeInfo {
  KeyType type;
  std::string_view name;
  std::string_view cert_name;
};

constexpr TypeInfo kTypes[] = {
    {KeyType::kEd25519, "ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com"},
    {KeyType::kEcdsaP256, "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256-cert-v01@openssh.com"},
    {KeyType::kEcdsaP384, "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384-cert-v01@openssh.com"},
    {KeyType::kEcdsaP521, "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521-cert-v01@openssh.com"},
    {KeyType::kRsa, "ssh-rsa", "ssh-rsa-cert-v01@openssh.com"},
    {KeyType::kDsa, "ssh-dss", "ssh-dss-cert-v01@openssh.com"},
    {KeyType::kSkEd25519, "sk-ssh-ed25519@openssh.com",
     "sk-ssh-ed25519-cert-v01@openssh.com"},
    {KeyType::kSkEcdsaP256, "sk-ecdsa-sha2-nistp256@openssh.com",
     "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com"},
};

const TypeInfo& Info(KeyType t) {
  for (const auto& i : kTypes) {
    if (i.type == t) return i;
  }
  abort();  // every enumerator is in kTypes
}

struct CurveInfo {
  std::string_view ssh_name;  // curve identifier inside the key blob
  const char* ossl_name;
  int bits;
  size_t field_bytes;
};

const CurveInfo* Curve(KeyType t) {
  static constexpr CurveInfo kP256{"nistp256", "P-256", 256, 32};
  static constexpr CurveInfo kP384{"nistp384", "P-384", 384, 48};
  static constexpr CurveInfo kP521{"nistp521", "P-521", 521, 66};
  switch (t) {
    case KeyType::kEcdsaP256:
    case KeyType::kSkEcdsaP256:
      return &kP256;
    case KeyType::kEcdsaP384:
      return &kP384;
    case KeyType::kEcdsaP521:
      return &kP521;
    default:
      return nullptr;
  }
}

int BitLength(ByteSpan magnitude) {
  if (magnitude.empty()) return 0;
  int top = 0;
  for (uint8_t b = magnitude[0]; b; b >>= 1) top++;
  return static_cast<int>((magnitude.size() - 1) * 8) + top;
}

absl::Status CheckEcPoint(const CurveInfo& curve, ByteSpan q) {
  if (q.size() != 1 + 2 * curve.field_bytes || q[0] != 0x04) {
    return absl::InvalidArgumentError(
        StrCat("ECDSA public point for ", curve.ssh_name, " is not an uncompressed point"));
  }
  std::unique_ptr<EC_GROUP, OsslDeleter<EC_GROUP_free>> group(
      EC_GROUP_new_by_curve_name(OBJ_sn2nid(curve.ossl_name) != NID_undef
                                     ? OBJ_sn2nid(curve.ossl_name)
                                     : EC_curve_nist2nid(curve.ossl_name)));
  if (!group) return absl::InternalError("OpenSSL does not know curve " + std::string(curve.ossl_name));
  std::unique_ptr<EC_POINT, OsslDeleter<EC_POINT_free>> point(EC_POINT_new(group.get()));
  if (EC_POINT_oct2point(group.get(), point.get(), q.data(), q.size(), nullptr) != 1 ||
      EC_POINT_is_at_infinity(group.get(), point.get())) {
    return absl::InvalidArgumentError(
        StrCat("ECDSA public point is not on curve ", curve.ssh_name));
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view KeyTypeName(KeyType t) { return Info(t).name; }
std::string_view CertTypeName(KeyType t) { return Info(t).cert_name; }

absl::StatusOr<KeyType> KeyTypeFromName(std::string_view name) {
  for (const auto& i : kTypes) {
    if (i.name == name) return i.type;
  }
  return absl::InvalidArgumentError(StrCat("unsupported key type \"", name, "\""));
}

absl::StatusOr<KeyType> KeyTypeFromCertName(std::string_view name) {
  for (const auto& i : kTypes) {
    if (i.cert_name == name) return i.type;
  }
  return absl::InvalidArgumentError(StrCat("unsupported certificate type \"", name, "\""));
}

absl::StatusOr<int> ParseKeyFields(KeyType type, SshReader& r) {
  switch (type) {
    case KeyType::kEd25519:
    case KeyType::kSkEd25519: {
      ASSIGN_OR_RETURN(ByteSpan pk, r.String("Ed25519 public key"));
      if (pk.size() != 32) {
        return absl::InvalidArgumentError(
            StrCat("Ed25519 public key is ", pk.size(), " bytes, not 32"));
      }
      if (type == KeyType::kSkEd25519) {
        RETURN_IF_ERROR(r.Text("security key application").status());
      }
      return 256;
    }
    case KeyType::kEcdsaP256:
    case KeyType::kEcdsaP384:
    case KeyType::kEcdsaP521:
    case KeyType::kSkEcdsaP256: {
      const CurveInfo& curve = *Curve(type);
      ASSIGN_OR_RETURN(ByteSpan id, r.String("ECDSA curve name"));
      if (AsChars(id) != curve.ssh_name) {
        return absl::InvalidArgumentError(StrCat("ECDSA curve \"", AsChars(id),
                                                       "\" does not match key type ",
                                                       KeyTypeName(type)));
      }
      ASSIGN_OR_RETURN(ByteSpan q, r.String("ECDSA public point"));
      RETURN_IF_ERROR(CheckEcPoint(curve, q));
      if (type == KeyType::kSkEcdsaP256) {
        RETURN_IF_ERROR(r.Text("security key application").status());
      }
      return curve.bits;
    }
    case KeyType::kRsa: {
      ASSIGN_OR_RETURN(ByteSpan e, r.PositiveMpint("RSA exponent"));
      ASSIGN_OR_RETURN(ByteSpan n, r.PositiveMpint("RSA modulus"));
      if (e.empty() || !(e.back() & 1)) {
        return absl::InvalidArgumentError("RSA public exponent must be odd");
      }
      if (n.empty() || !(n.back() & 1)) {
        return absl::InvalidArgumentError("RSA modulus must be odd");
      }
      return BitLength(n);
    }
    case KeyType::kDsa: {
      ASSIGN_OR_RETURN(ByteSpan p, r.PositiveMpint("DSA p"));
      RETURN_IF_ERROR(r.PositiveMpint("DSA q").status());
      RETURN_IF_ERROR(r.PositiveMpint("DSA g").status());
      RETURN_IF_ERROR(r.PositiveMpint("DSA y").status());
      return BitLength(p);
    }
  }
  return absl::InvalidArgumentError("unsupported key type");
}

absl::StatusOr<PublicKey> ParsePublicKey(ByteSpan blob) {
  if (blob.size() > kMaxPublicKeyBytes) {
    return absl::InvalidArgumentError(StrCat("public key is ", blob.size(),
                                                   " bytes; keys over ", kMaxPublicKeyBytes,
                                                   " bytes are refused"));
  }
  SshReader r(blob);
  ASSIGN_OR_RETURN(ByteSpan name, r.String("key type"));
  ASSIGN_OR_RETURN(KeyType type, KeyTypeFromName(AsChars(name)));
  PublicKey key;
  key.type = type;
  key.fields_offset = blob.size() - r.remaining();
  ASSIGN_OR_RETURN(key.bits, ParseKeyFields(type, r));
  RETURN_IF_ERROR(r.ExpectEnd("public key"));
  key.blob.assign(blob.begin(), blob.end());
  return key;
}

absl::StatusOr<PublicKey> ParseAuthorizedKey(std::string_view line, std::string* comment) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' ')) {
    line.remove_suffix(1);
  }
  std::vector<std::string_view> parts =
      StrSplit(line, ' ', /*skip_empty=*/true, /*max_parts=*/3);
  if (parts.size() < 2) {
    return absl::InvalidArgumentError(
        "not an OpenSSH public key: expected \"TYPE BASE64 [COMMENT]\" as in id_ed25519.pub");
  }
  if (parts[1].size() > 4 * kMaxPublicKeyBytes / 3 + 4) {
    return absl::InvalidArgumentError(StrCat("public key is over ", kMaxPublicKeyBytes,
                                                   " bytes; keys that large are refused"));
  }
  auto blob = Base64Decode(parts[1]);
  if (!blob.ok()) {
    return absl::InvalidArgumentError("public key is not valid base64: " +
                                      std::string(blob.status().message()));
  }
  ASSIGN_OR_RETURN(PublicKey key, ParsePublicKey(*blob));
  if (KeyTypeName(key.type) != parts[0]) {
    return absl::InvalidArgumentError(StrCat("key type \"", parts[0],
                                                   "\" does not match the encoded key type \"",
                                                   KeyTypeName(key.type), "\""));
  }
  if (comment) *comment = parts.size() > 2 ? std::string(parts[2]) : "";
  return key;
}

std::string FormatAuthorizedKey(const PublicKey& key, std::string_view comment) {
  std::string out = StrCat(KeyTypeName(key.type), " ", Base64Encode(key.blob));
  if (!comment.empty()) StrAppend(&out, " ", comment);
  return out;
}

std::string Fingerprint(ByteSpan blob) {
  return "SHA256:" + Base64Encode(Sha256(blob), /*pad=*/false);
}

absl::Status CheckUserKeyAcceptable(const PublicKey& key) {
  if (key.blob.size() > kMaxPublicKeyBytes) {
    return absl::InvalidArgumentError(StrCat("public key is ", key.blob.size(),
                                                   " bytes; keys over ", kMaxPublicKeyBytes,
                                                   " bytes are refused"));
  }
  if (key.type == KeyType::kDsa) {
    return absl::InvalidArgumentError(
        "ssh-dss (DSA) keys are refused: DSA is limited to 1024 bits and OpenSSH disabled it; "
        "create an Ed25519 key with: ssh-keygen -t ed25519");
  }
  if (key.type == KeyType::kRsa && key.bits < 2048) {
    return absl::InvalidArgumentError(StrCat(
        "RSA key is ", key.bits, " bits; at least 2048 are required. Create a new key with: "
        "ssh-keygen -t ed25519 (or ssh-keygen -t rsa -b 3072)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<EvpPkeyPtr> ToEvpPkey(const PublicKey& key) {
  SshReader r(key.fields());
  switch (key.type) {
    case KeyType::kEd25519: {
      ASSIGN_OR_RETURN(ByteSpan pk, r.String("Ed25519 public key"));
      EvpPkeyPtr p(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pk.data(), pk.size()));
      if (!p) return absl::InvalidArgumentError("bad Ed25519 key: " + OpensslError());
      return p;
    }
    case KeyType::kEcdsaP256:
    case KeyType::kEcdsaP384:
    case KeyType::kEcdsaP521: {
      RETURN_IF_ERROR(r.String("ECDSA curve name").status());
      ASSIGN_OR_RETURN(ByteSpan q, r.String("ECDSA public point"));
      std::unique_ptr<OSSL_PARAM_BLD, OsslDeleter<OSSL_PARAM_BLD_free>> bld(OSSL_PARAM_BLD_new());
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                      Curve(key.type)->ossl_name, 0);
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, q.data(), q.size());
      std::unique_ptr<OSSL_PARAM, OsslDeleter<OSSL_PARAM_free>> params(
          OSSL_PARAM_BLD_to_param(bld.get()));
      EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
      EVP_PKEY* out = nullptr;
      if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
          EVP_PKEY_fromdata(ctx.get(), &out, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
        return absl::InvalidArgumentError("bad ECDSA key: " + OpensslError());
      }
      return EvpPkeyPtr(out);
    }
    case KeyType::kRsa: {
      ASSIGN_OR_RETURN(ByteSpan e, r.PositiveMpint("RSA exponent"));
      ASSIGN_OR_RETURN(ByteSpan n, r.PositiveMpint("RSA modulus"));
      std::unique_ptr<BIGNUM, OsslDeleter<BN_free>> bn_e(
          BN_bin2bn(e.data(), static_cast<int>(e.size()), nullptr));
      std::unique_ptr<BIGNUM, OsslDeleter<BN_free>> bn_n(
          BN_bin2bn(n.data(), static_cast<int>(n.size()), nullptr));
      std::unique_ptr<OSSL_PARAM_BLD, OsslDeleter<OSSL_PARAM_BLD_free>> bld(OSSL_PARAM_BLD_new());
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get());
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get());
      std::unique_ptr<OSSL_PARAM, OsslDeleter<OSSL_PARAM_free>> params(
          OSSL_PARAM_BLD_to_param(bld.get()));
      EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
      EVP_PKEY* out = nullptr;
      if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
          EVP_PKEY_fromdata(ctx.get(), &out, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
        return absl::InvalidArgumentError("bad RSA key: " + OpensslError());
      }
      return EvpPkeyPtr(out);
    }
    default:
      return absl::InvalidArgumentError(
          StrCat(KeyTypeName(key.type), " keys cannot be used to verify signatures here"));
  }
}

absl::StatusOr<Bytes> PublicKeyBlobFromEvp(EVP_PKEY* key) {
  SshWriter w;
  if (EVP_PKEY_is_a(key, "ED25519")) {
    Bytes pk(32);
    size_t len = pk.size();
    if (EVP_PKEY_get_raw_public_key(key, pk.data(), &len) != 1 || len != 32) {
      return absl::InternalError("cannot read Ed25519 public key: " + OpensslError());
    }
    w.String(KeyTypeName(KeyType::kEd25519));
    w.String(pk);
    return w.Take();
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64];
    size_t glen = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &glen) != 1 ||
        (std::string_view(group) != "prime256v1" && std::string_view(group) != "P-256")) {
      return absl::InvalidArgumentError("only P-256 EC keys are supported");
    }
    Bytes q(65);
    size_t qlen = 0;
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, q.data(),
                                        q.size(), &qlen) != 1 || qlen != 65) {
      return absl::InternalError("cannot read EC public point: " + OpensslError());
    }
    w.String(KeyTypeName(KeyType::kEcdsaP256));
    w.String("nistp256");
    w.String(q);
    return w.Take();
  }
  return absl::InvalidArgumentError("unsupported OpenSSL key type for an SSH key");
}

Bytes EncodeSshSignature(const RawSignature& sig) {
  SshWriter w;
  if (sig.type == KeyType::kEd25519) {
    w.String(KeyTypeName(KeyType::kEd25519));
    w.String(sig.raw);
    return w.Take();
  }
  // ECDSA: r || s split in half, each written as an mpint (RFC 5656 section 3.1.2).
  const size_t half = sig.raw.size() / 2;
  SshWriter inner;
  inner.Mpint(ByteSpan(sig.raw).subspan(0, half));
  inner.Mpint(ByteSpan(sig.raw).subspan(half));
  w.String(KeyTypeName(sig.type));
  w.String(inner.bytes());
  return w.Take();
}

absl::StatusOr<Bytes> RawSignatureToDer(const RawSignature& sig) {
  if (sig.type == KeyType::kEd25519) return sig.raw;
  const size_t half = sig.raw.size() / 2;
  std::unique_ptr<ECDSA_SIG, OsslDeleter<ECDSA_SIG_free>> es(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(sig.raw.data(), static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(sig.raw.data() + half, static_cast<int>(half), nullptr);
  if (!r || !s || ECDSA_SIG_set0(es.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return absl::InternalError("cannot build ECDSA signature");
  }
  unsigned char* der = nullptr;
  int n = i2d_ECDSA_SIG(es.get(), &der);
  if (n <= 0) return absl::InternalError("cannot encode ECDSA signature");
  Bytes out(der, der + n);
  OPENSSL_free(der);
  return out;
}

absl::Status VerifySshSignature(const PublicKey& signer, ByteSpan signature, ByteSpan data) {
  SshReader r(signature);
  ASSIGN_OR_RETURN(std::string alg, r.Text("signature algorithm"));
  ASSIGN_OR_RETURN(ByteSpan sig, r.String("signature"));
  RETURN_IF_ERROR(r.ExpectEnd("signature"));
  ASSIGN_OR_RETURN(EvpPkeyPtr pkey, ToEvpPkey(signer));
  const EVP_MD* md = nullptr;
  Bytes der;
  ByteSpan to_verify = sig;
  switch (signer.type) {
    case KeyType::kEd25519:
      if (alg != "ssh-ed25519") return absl::InvalidArgumentError("signature algorithm mismatch");
      break;
    case KeyType::kEcdsaP256:
    case KeyType::kEcdsaP384:
    case KeyType::kEcdsaP521: {
      if (alg != KeyTypeName(signer.type)) {
        return absl::InvalidArgumentError("signature algorithm mismatch");
      }
      md = signer.type == KeyType::kEcdsaP256   ? EVP_sha256()
           : signer.type == KeyType::kEcdsaP384 ? EVP_sha384()
                                                : EVP_sha512();
      SshReader rs(sig);
      ASSIGN_OR_RETURN(ByteSpan rr, rs.PositiveMpint("ECDSA r"));
      ASSIGN_OR_RETURN(ByteSpan ss, rs.PositiveMpint("ECDSA s"));
      RETURN_IF_ERROR(rs.ExpectEnd("ECDSA signature"));
      const size_t fb = Curve(signer.type)->field_bytes;
      if (rr.size() > fb || ss.size() > fb) {
        return absl::InvalidArgumentError("ECDSA signature values too large");
      }
      Bytes raw(2 * fb, 0);
      std::copy(rr.begin(), rr.end(), raw.begin() + (fb - rr.size()));
      std::copy(ss.begin(), ss.end(), raw.begin() + (2 * fb - ss.size()));
      ASSIGN_OR_RETURN(der, RawSignatureToDer({signer.type, raw}));
      to_verify = der;
      break;
    }
    case KeyType::kRsa:
      if (alg == "rsa-sha2-256") {
        md = EVP_sha256();
      } else if (alg == "rsa-sha2-512") {
        md = EVP_sha512();
      } else {
        return absl::InvalidArgumentError("RSA signature algorithm \"" + alg +
                                          "\" refused; only rsa-sha2-256/512 are accepted");
      }
      break;
    default:
      return absl::InvalidArgumentError("unsupported signer type");
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey.get()) != 1 ||
      EVP_DigestVerify(ctx.get(), to_verify.data(), to_verify.size(), data.data(), data.size()) !=
          1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("signature does not verify");
  }
  return absl::OkStatus();
}

}  // namespace warden
