#include "common/totp.h"

#include "common/crypto.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace warden {
namespace {

// RFC 6238 appendix B, SHA-1 secret "12345678901234567890", truncated to 6 digits.
TEST(Totp, MatchesRfc6238TestVectors) {
  const Bytes secret = ToBytes("12345678901234567890");
  EXPECT_EQ(TotpCode(secret, 59 / 30), "287082");
  EXPECT_EQ(TotpCode(secret, 1111111109 / 30), "081804");
  EXPECT_EQ(TotpCode(secret, 1234567890 / 30), "005924");
  EXPECT_EQ(TotpCode(secret, 2000000000 / 30), "279037");
}

TEST(Totp, AgreesWithOathtool) {
  const Bytes secret = RandomBytes(20);
  const std::string b32 = Base32Encode(secret);
  auto r = testing::RunCommand("oathtool --totp -b -N @1700000000 " + b32);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.substr(0, 6), TotpCode(secret, 1700000000 / 30));
  EXPECT_EQ(*Base32Decode(b32), secret);
}

TEST(Totp, AcceptsOneStepOfSkewAndRefusesReplay) {
  const Bytes secret = RandomBytes(20);
  const uint64_t now = 1700000000, step = now / 30;
  auto ok = VerifyTotp(secret, TotpCode(secret, step - 1), now, 0);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, step - 1);
  EXPECT_FALSE(VerifyTotp(secret, TotpCode(secret, step - 3), now, 0).ok());
  auto replay = VerifyTotp(secret, TotpCode(secret, step), now, step);
  ASSERT_FALSE(replay.ok());
  EXPECT_NE(std::string(replay.status().message()).find("already used"), std::string::npos);
  EXPECT_FALSE(VerifyTotp(secret, "12345", now, 0).ok());
}

}  // namespace
}  // namespace warden
