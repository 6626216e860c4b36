// Shamir's secret sharing over GF(2^8) (the AES field, x^8 + x^4 + x^3 + x + 1), for the vault's
// root key: `threshold` of `shares` reconstruct it, fewer reveal nothing about it.
//
// A share travels as text a custodian can type or paste:
//   wss1-<set id, 8 hex>-<index, 2 hex>-<share bytes, hex>-<check, 8 hex>
// The set id names one split (shares of another split are refused by name); the check is the
// first 4 bytes of SHA-256 over the rest, so a mistyped share is refused before it is used.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace warden {

struct Share {
  uint32_t set_id = 0;
  uint8_t index = 0;  // the x coordinate, 1..255
  SecretBytes y;      // one byte per byte of the secret
};

// REQUIRES: 2 <= threshold <= shares <= 255; a non-empty secret.
absl::StatusOr<std::vector<Share>> SplitSecret(ByteSpan secret, int shares, int threshold,
                                               uint32_t set_id);
// Interpolates at x = 0. Refuses shares of different sets or lengths and an index given twice;
// the caller knows the threshold (fewer shares than it give a wrong secret, not an error here).
absl::StatusOr<SecretBytes> CombineShares(const std::vector<Share>& shares);

std::string EncodeShare(const Share& s);
absl::StatusOr<Share> DecodeShare(std::string_view text);

}  // namespace warden
