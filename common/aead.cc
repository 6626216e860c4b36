#include "common/aead.h"

#include <openssl/evp.h>

#include <memory>

#include "common/crypto.h"

namespace warden {
namespace {

constexpr size_t kNonce = 12, kTag = 16;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, OsslDeleter<EVP_CIPHER_CTX_free>>;

}  // namespace

absl::StatusOr<Bytes> AeadSeal(ByteSpan key, ByteSpan aad, ByteSpan plaintext) {
  if (key.size() != kAeadKeySize) return absl::InternalError("AES-256-GCM needs a 32-byte key");
  Bytes out = RandomBytes(kNonce);
  out.resize(kNonce + plaintext.size() + kTag);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int n = 0, m = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), out.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &n, aad.data(), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data() + kNonce, &n, plaintext.data(),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + kNonce + n, &m) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag,
                          out.data() + kNonce + plaintext.size()) != 1)
    return absl::InternalError("AES-256-GCM encryption failed: " + OpensslError());
  return out;
}

absl::StatusOr<SecretBytes> AeadOpen(ByteSpan key, ByteSpan aad, ByteSpan sealed) {
  if (key.size() != kAeadKeySize) return absl::InternalError("AES-256-GCM needs a 32-byte key");
  if (sealed.size() < kNonce + kTag) return absl::DataLossError("encrypted blob is truncated");
  const size_t len = sealed.size() - kNonce - kTag;
  SecretBytes out(len);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int n = 0, m = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), sealed.data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &n, aad.data(), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out.data(), &n, sealed.data() + kNonce, static_cast<int>(len)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag,
                          const_cast<uint8_t*>(sealed.data() + kNonce + len)) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), out.data() + n, &m) != 1)
    return absl::DataLossError("encrypted blob does not authenticate (altered, or not from here)");
  return out;
}

}  // namespace warden
