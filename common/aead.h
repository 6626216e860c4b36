// AES-256-GCM with a random 96-bit nonce, as one blob: nonce (12) || ciphertext || tag (16).
// The associated data binds a blob to where it belongs (the vault: path and version), so a blob
// moved elsewhere fails to open.
#pragma once

#include "common/bytes.h"
#include "common/status.h"

namespace warden {

inline constexpr size_t kAeadKeySize = 32;

absl::StatusOr<Bytes> AeadSeal(ByteSpan key, ByteSpan aad, ByteSpan plaintext);
// DataLoss if the blob was altered, truncated, sealed under another key or for other `aad`.
absl::StatusOr<SecretBytes> AeadOpen(ByteSpan key, ByteSpan aad, ByteSpan sealed);

}  // namespace warden
