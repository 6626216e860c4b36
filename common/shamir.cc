#include "common/shamir.h"

#include <openssl/crypto.h>

#include "common/crypto.h"
#include "common/strings.h"

namespace warden {
namespace {

uint8_t Mul(uint8_t a, uint8_t b) {
  uint8_t p = 0;
  for (int i = 0; i < 8; i++) {  // constant time: no branch on secret bits
    p ^= static_cast<uint8_t>(-(b & 1) & a);
    const uint8_t carry = static_cast<uint8_t>(-(a >> 7));
    a = static_cast<uint8_t>((a << 1) ^ (carry & 0x1b));
    b >>= 1;
  }
  return p;
}

uint8_t Inverse(uint8_t a) {  // a^254; REQUIRES a != 0
  uint8_t r = 1;
  for (int i = 0; i < 254; i++) r = Mul(r, a);
  return r;
}

std::string CheckOf(std::string_view body) {
  Bytes h = Sha256(AsBytes(body));
  h.resize(4);
  return HexEncode(h);
}

}  // namespace

absl::StatusOr<std::vector<Share>> SplitSecret(ByteSpan secret, int shares, int threshold,
                                               uint32_t set_id) {
  if (threshold < 2 || shares < threshold || shares > 255)
    return absl::InvalidArgumentError(
        StrCat("shares must satisfy 2 <= threshold <= shares <= 255 (got ", threshold, " of ",
               shares, ")"));
  if (secret.empty()) return absl::InvalidArgumentError("nothing to split");
  std::vector<Share> out(static_cast<size_t>(shares));
  for (int i = 0; i < shares; i++) {
    out[i].set_id = set_id;
    out[i].index = static_cast<uint8_t>(i + 1);
    out[i].y = SecretBytes(secret.size());
  }
  SecretBytes coeff(static_cast<size_t>(threshold));
  for (size_t b = 0; b < secret.size(); b++) {
    // A fresh random polynomial of degree threshold-1 per byte, with the secret byte at x = 0.
    Bytes r = RandomBytes(static_cast<size_t>(threshold - 1));
    coeff.data()[0] = secret[b];
    std::copy(r.begin(), r.end(), coeff.data() + 1);
    OPENSSL_cleanse(r.data(), r.size());
    for (Share& s : out) {
      uint8_t y = 0;
      for (int k = threshold - 1; k >= 0; k--) y = static_cast<uint8_t>(Mul(y, s.index) ^ coeff.data()[k]);
      s.y.data()[b] = y;
    }
  }
  return out;
}

absl::StatusOr<SecretBytes> CombineShares(const std::vector<Share>& shares) {
  if (shares.empty()) return absl::InvalidArgumentError("no shares");
  const size_t len = shares[0].y.size();
  for (size_t i = 0; i < shares.size(); i++) {
    if (shares[i].set_id != shares[0].set_id)
      return absl::InvalidArgumentError("the shares come from different splits");
    if (shares[i].y.size() != len || shares[i].index == 0)
      return absl::InvalidArgumentError("malformed share");
    for (size_t j = 0; j < i; j++) {
      if (shares[j].index == shares[i].index)
        return absl::InvalidArgumentError(StrCat("share ", int{shares[i].index}, " was given twice"));
    }
  }
  SecretBytes out(len);
  for (size_t i = 0; i < shares.size(); i++) {
    // Lagrange basis at 0: prod x_j / (x_j - x_i); subtraction is xor in GF(2^8).
    uint8_t num = 1, den = 1;
    for (size_t j = 0; j < shares.size(); j++) {
      if (j == i) continue;
      num = Mul(num, shares[j].index);
      den = Mul(den, static_cast<uint8_t>(shares[j].index ^ shares[i].index));
    }
    const uint8_t basis = Mul(num, Inverse(den));
    for (size_t b = 0; b < len; b++) out.data()[b] ^= Mul(shares[i].y.data()[b], basis);
  }
  return out;
}

std::string EncodeShare(const Share& s) {
  char head[32];
  snprintf(head, sizeof head, "wss1-%08x-%02x-", s.set_id, s.index);
  std::string body = StrCat(head, HexEncode(s.y.span()));
  std::string text = StrCat(body, "-", CheckOf(body));
  OPENSSL_cleanse(body.data(), body.size());
  return text;
}

absl::StatusOr<Share> DecodeShare(std::string_view text) {
  const auto bad = [](std::string_view why) {
    return absl::InvalidArgumentError(
        StrCat("not a Warden unseal share (", why, "); shares look like wss1-xxxxxxxx-01-..."));
  };
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  if (text.size() < 5 + 9 + 3 + 2 + 9 || text.substr(0, 5) != "wss1-") return bad("wrong form");
  const size_t last = text.rfind('-');
  const std::string_view body = text.substr(0, last), check = text.substr(last + 1);
  if (CheckOf(body) != check) return bad("its check digits do not match: mistyped?");
  std::vector<std::string_view> parts = StrSplit(body, '-', false);
  if (parts.size() != 4 || parts[1].size() != 8 || parts[2].size() != 2) return bad("wrong form");
  auto set = HexDecode(parts[1]);
  auto index = HexDecode(parts[2]);
  auto y = HexDecode(parts[3]);
  if (!set.ok() || !index.ok() || !y.ok() || y->empty() || (*index)[0] == 0) return bad("wrong form");
  Share s;
  s.set_id = (uint32_t{(*set)[0]} << 24) | (uint32_t{(*set)[1]} << 16) | (uint32_t{(*set)[2]} << 8) |
             (*set)[3];
  s.index = (*index)[0];
  s.y = SecretBytes(*y);
  OPENSSL_cleanse(y->data(), y->size());
  return s;
}

}  // namespace warden
