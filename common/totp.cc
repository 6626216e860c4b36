#include "common/totp.h"

#include <openssl/hmac.h>

#include <cstdio>

#include "common/crypto.h"

namespace warden {
namespace {
constexpr char kBase32Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
}

std::string Base32Encode(ByteSpan data) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t b : data) {
    buffer = buffer << 8 | b;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32Alphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32Alphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

absl::StatusOr<Bytes> Base32Decode(std::string_view text) {
  Bytes out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == ' ') continue;
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a';
    } else if (c >= '2' && c <= '7') {
      v = c - '2' + 26;
    } else {
      return absl::InvalidArgumentError("TOTP secret is not base32");
    }
    buffer = buffer << 5 | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<uint8_t>(buffer >> (bits - 8)));
      bits -= 8;
    }
  }
  return out;
}

std::string TotpCode(ByteSpan secret, uint64_t step) {
  uint8_t counter[8];
  for (int i = 7; i >= 0; i--) {
    counter[i] = static_cast<uint8_t>(step);
    step >>= 8;
  }
  uint8_t mac[20];
  unsigned int len = 0;
  HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()), counter, sizeof(counter), mac,
       &len);
  // Dynamic truncation, RFC 4226 section 5.3.
  const int offset = mac[19] & 0x0f;
  const uint32_t bin = (mac[offset] & 0x7fu) << 24 | mac[offset + 1] << 16 |
                       mac[offset + 2] << 8 | mac[offset + 3];
  char code[8];
  std::snprintf(code, sizeof(code), "%06u", bin % 1000000u);
  return code;
}

absl::StatusOr<uint64_t> VerifyTotp(ByteSpan secret, std::string_view code, uint64_t now_unix,
                                    uint64_t last_used_step) {
  if (code.size() != 6) {
    return absl::UnauthenticatedError("one-time code must be 6 digits");
  }
  const uint64_t now_step = now_unix / kTotpStepSeconds;
  for (uint64_t step = now_step + 1; step + 2 > now_step && step > 0; step--) {
    if (ConstantTimeEquals(AsBytes(TotpCode(secret, step)), AsBytes(code))) {
      if (step <= last_used_step) {
        return absl::UnauthenticatedError(
            "one-time code was already used; wait for the next code in your authenticator");
      }
      return step;
    }
  }
  return absl::UnauthenticatedError("wrong password or one-time code");
}

std::string RandomId(size_t chars) {
  std::string s = Base32Encode(RandomBytes((chars * 5 + 7) / 8));
  for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  s.resize(chars);
  return s;
}

}  // namespace warden
