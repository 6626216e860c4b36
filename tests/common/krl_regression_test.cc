#include <gtest/gtest.h>

#include "common/krl.h"

namespace warden {
namespace {

// Found by krl_fuzzer: a serial bitmap at offset 0 with bit 0 set "revoked" serial 0, which the
// encoder then wrote into a serial list that no parser (ours or OpenSSH's) accepts.
TEST(KrlRegression, BitmapCannotRevokeSerialZero) {
  auto blob = Base64Decode(
      "U1NIS1JMCgAAAAABAAAAAAAAAAAAAAAAawSrxgAAAAAAAAAAAAAAAAAAAAABAAAAWwAAADMAAAALc3NoLWVkMjU1MTkA"
      "AAAg4oNYULjcJHuX1hn/Zkbs394VxH/XSF4jNnuUT8IK+lYAAAAAIgAAAA4AAAAAAAAAAAAAAAIB/yMAAAAIAAAABHNl"
      "ZWQ=");
  ASSERT_TRUE(blob.ok());
  auto krl = ParseKrl(*blob);
  ASSERT_FALSE(krl.ok());
  EXPECT_NE(std::string(krl.status().message()).find("serial 0"), std::string::npos);
}

}  // namespace
}  // namespace warden
