#include "controller/keys/software_keystore.h"

#include <openssl/crypto.h>
#include <openssl/ec.h>

#include "common/aead.h"
#include "common/strings.h"

namespace warden {

absl::StatusOr<KeyAlgorithm> KeyAlgorithmFromName(std::string_view name) {
  if (name == "ed25519") return KeyAlgorithm::kEd25519;
  if (name == "ecdsa-p256") return KeyAlgorithm::kEcdsaP256;
  return absl::InvalidArgumentError(
      StrCat("unknown key algorithm \"", name, "\"; use ed25519 or ecdsa-p256"));
}

std::string_view KeyAlgorithmName(KeyAlgorithm alg) {
  return alg == KeyAlgorithm::kEd25519 ? "ed25519" : "ecdsa-p256";
}

absl::StatusOr<Bytes> SignSsh(KeyStore& store, std::string_view label, ByteSpan data) {
  ASSIGN_OR_RETURN(RawSignature sig, store.Sign(label, data));
  return EncodeSshSignature(sig);
}

absl::StatusOr<PublicKey> SoftwareKeyStore::Generate(std::string_view label, KeyAlgorithm alg) {
  EvpPkeyPtr key(alg == KeyAlgorithm::kEd25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                               : EVP_EC_gen("P-256"));
  if (!key) return absl::InternalError("key generation failed: " + OpensslError());
  ASSIGN_OR_RETURN(Bytes blob, PublicKeyBlobFromEvp(key.get()));
  ASSIGN_OR_RETURN(PublicKey pub, ParsePublicKey(blob));
  std::lock_guard lock(mu_);
  if (keys_.count(label)) {
    return absl::AlreadyExistsError(StrCat("key \"", label, "\" already exists"));
  }
  keys_.emplace(std::string(label), Entry{alg, std::move(key), pub});
  return pub;
}

absl::StatusOr<const SoftwareKeyStore::Entry*> SoftwareKeyStore::Find(std::string_view label) {
  std::lock_guard lock(mu_);
  auto it = keys_.find(label);
  if (it == keys_.end()) return absl::NotFoundError(StrCat("no key \"", label, "\""));
  return &it->second;  // entries are never erased, so the pointer stays valid
}

absl::StatusOr<PublicKey> SoftwareKeyStore::GetPublicKey(std::string_view label) {
  ASSIGN_OR_RETURN(const Entry* e, Find(label));
  return e->pub;
}

absl::StatusOr<RawSignature> SoftwareKeyStore::Sign(std::string_view label, ByteSpan data) {
  ASSIGN_OR_RETURN(const Entry* e, Find(label));
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  const EVP_MD* md = e->alg == KeyAlgorithm::kEd25519 ? nullptr : EVP_sha256();
  size_t len = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, e->key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data.data(), data.size()) != 1) {
    return absl::InternalError("signing failed: " + OpensslError());
  }
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()) != 1) {
    return absl::InternalError("signing failed: " + OpensslError());
  }
  sig.resize(len);
  if (e->alg == KeyAlgorithm::kEd25519) return RawSignature{KeyType::kEd25519, std::move(sig)};
  // DER ECDSA-Sig-Value -> fixed-width r || s.
  const unsigned char* p = sig.data();
  std::unique_ptr<ECDSA_SIG, OsslDeleter<ECDSA_SIG_free>> es(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
  if (!es) return absl::InternalError("cannot decode ECDSA signature");
  Bytes raw(64);
  if (BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), raw.data(), 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), raw.data() + 32, 32) != 32) {
    return absl::InternalError("ECDSA signature values out of range");
  }
  return RawSignature{KeyType::kEcdsaP256, std::move(raw)};
}

absl::Status SoftwareKeyStore::GenerateEncryptionKey(std::string_view label) {
  std::lock_guard lock(mu_);
  if (secret_keys_.count(label)) return absl::AlreadyExistsError(StrCat("key \"", label, "\" already exists"));
  Bytes k = RandomBytes(kAeadKeySize);
  secret_keys_.emplace(std::string(label), SecretBytes(k));
  OPENSSL_cleanse(k.data(), k.size());
  return absl::OkStatus();
}

absl::StatusOr<Bytes> SoftwareKeyStore::Encrypt(std::string_view label, ByteSpan aad,
                                                ByteSpan plaintext) {
  std::lock_guard lock(mu_);
  auto it = secret_keys_.find(label);
  if (it == secret_keys_.end()) return absl::NotFoundError(StrCat("no key \"", label, "\""));
  return AeadSeal(it->second.span(), aad, plaintext);
}

absl::StatusOr<SecretBytes> SoftwareKeyStore::Decrypt(std::string_view label, ByteSpan aad,
                                                      ByteSpan blob) {
  std::lock_guard lock(mu_);
  auto it = secret_keys_.find(label);
  if (it == secret_keys_.end()) return absl::NotFoundError(StrCat("no key \"", label, "\""));
  return AeadOpen(it->second.span(), aad, blob);
}

absl::Status SoftwareKeyStore::GenerateMacKey(std::string_view label) {
  Bytes k = RandomBytes(32);
  absl::Status st = ImportMacKey(label, k);
  OPENSSL_cleanse(k.data(), k.size());
  return st;
}

absl::Status SoftwareKeyStore::ImportMacKey(std::string_view label, ByteSpan key) {
  std::lock_guard lock(mu_);
  if (secret_keys_.count(label) || mac_keys_.count(label))
    return absl::AlreadyExistsError(StrCat("key \"", label, "\" already exists"));
  mac_keys_.emplace(std::string(label), SecretBytes(key));
  return absl::OkStatus();
}

absl::StatusOr<Bytes> SoftwareKeyStore::Mac(std::string_view label, ByteSpan data) {
  std::lock_guard lock(mu_);
  auto it = mac_keys_.find(label);
  if (it == mac_keys_.end()) return absl::NotFoundError(StrCat("no key \"", label, "\""));
  return HmacSha256(it->second.span(), data);
}

}  // namespace warden
