#include "common/duration.h"

#include <gtest/gtest.h>

namespace warden {
namespace {

TEST(Duration, ParsesAndFormats) {
  EXPECT_EQ(*ParseDuration("90s"), 90);
  EXPECT_EQ(*ParseDuration("30m"), 1800);
  EXPECT_EQ(*ParseDuration("1h30m"), 5400);
  EXPECT_EQ(*ParseDuration("2d"), 172800);
  EXPECT_EQ(FormatDuration(5400), "1h30m");
  EXPECT_EQ(FormatDuration(4 * 3600), "4h");
}

// wardenctl and the policy share this parser: what one refuses the other does too (wardenctl
// used to take "1h junk" as 1h).
TEST(Duration, RefusesTextThatIsNotWhollyADuration) {
  for (const char* bad : {"", "30", "m", "5y", "1h junk", "1h30", "h1", "1h 30m", "-1h"}) {
    auto d = ParseDuration(bad);
    EXPECT_FALSE(d.ok()) << "\"" << bad << "\" parsed as " << d.value_or(-1);
  }
  auto junk = ParseDuration("1h junk");
  ASSERT_FALSE(junk.ok());
  EXPECT_NE(junk.status().message().find("\"1h junk\""), std::string::npos) << junk.status().message();
  EXPECT_FALSE(ParseDuration("999999999999h").ok()) << "too large";
}

}  // namespace
}  // namespace warden
