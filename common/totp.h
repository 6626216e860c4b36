// Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1, 6 digits, 30-second
// steps, the parameters every authenticator app uses. Secrets are exchanged in base32
// (RFC 4648), as in otpauth:// URIs and `oathtool --totp -b`.
#pragma once

#include <cstdint>
#include <string>

#include "common/bytes.h"
#include "common/status.h"

namespace warden {

inline constexpr uint64_t kTotpStepSeconds = 30;

std::string Base32Encode(ByteSpan data);

// Lowercase base32 identifier material ("7k2f..."), for ids and login suffixes.
std::string RandomId(size_t chars);
absl::StatusOr<Bytes> Base32Decode(std::string_view text);

// The 6-digit code for time step `step` (unix time / 30).
std::string TotpCode(ByteSpan secret, uint64_t step);

// Checks `code` against the steps around `now_unix` (one step of clock skew either way) and
// returns the matching step. Steps at or before `last_used_step` are refused so that a code
// cannot be replayed.
absl::StatusOr<uint64_t> VerifyTotp(ByteSpan secret, std::string_view code, uint64_t now_unix,
                                    uint64_t last_used_step);

}  // namespace warden
