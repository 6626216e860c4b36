#include "common/shamir.h"

#include <gtest/gtest.h>

#include "common/aead.h"
#include "common/crypto.h"

namespace warden {
namespace {

std::vector<Share> Pick(const std::vector<Share>& all, std::vector<int> which) {
  std::vector<Share> out;
  for (int i : which) {
    Share s;
    s.set_id = all[i].set_id;
    s.index = all[i].index;
    s.y = SecretBytes(all[i].y.span());
    out.push_back(std::move(s));
  }
  return out;
}

TEST(Shamir, AnyThresholdOfTheSharesRebuildTheSecretAndFewerDoNot) {
  const Bytes secret = RandomBytes(32);
  auto shares = SplitSecret(secret, 5, 3, 0x1234abcd);
  ASSERT_TRUE(shares.ok());
  ASSERT_EQ(shares->size(), 5u);
  for (const auto& pick : std::vector<std::vector<int>>{{0, 1, 2}, {4, 2, 0}, {1, 3, 4}, {0, 1, 2, 3, 4}}) {
    auto got = CombineShares(Pick(*shares, pick));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(Bytes(got->span().begin(), got->span().end()), secret);
  }
  auto two = CombineShares(Pick(*shares, {0, 1}));
  ASSERT_TRUE(two.ok());
  EXPECT_NE(Bytes(two->span().begin(), two->span().end()), secret);
}

TEST(Shamir, ASharesTextRoundTripsAndBadTextIsRefusedWithAReason) {
  auto shares = SplitSecret(RandomBytes(32), 3, 2, 0xdeadbeef);
  ASSERT_TRUE(shares.ok());
  const std::string text = EncodeShare((*shares)[1]);
  EXPECT_EQ(text.rfind("wss1-deadbeef-02-", 0), 0u) << text;
  auto back = DecodeShare(text + "\n");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->index, 2);
  EXPECT_EQ(Bytes(back->y.span().begin(), back->y.span().end()),
            Bytes((*shares)[1].y.span().begin(), (*shares)[1].y.span().end()));
  std::string typo = text;
  typo[20] = typo[20] == 'a' ? 'b' : 'a';
  auto bad = DecodeShare(typo);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("check digits do not match"), std::string::npos);
  EXPECT_FALSE(DecodeShare("hunter2").ok());
  EXPECT_FALSE(DecodeShare("").ok());
}

TEST(Shamir, TheSameShareTwiceOrSharesOfAnotherSplitAreRefused) {
  auto shares = SplitSecret(RandomBytes(32), 5, 3, 1);
  auto other = SplitSecret(RandomBytes(32), 5, 3, 2);
  ASSERT_TRUE(shares.ok() && other.ok());
  auto twice = CombineShares(Pick(*shares, {0, 0, 1}));
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().message(), "share 1 was given twice");
  std::vector<Share> mixed = Pick(*shares, {0, 1});
  mixed.push_back(std::move(Pick(*other, {2})[0]));
  EXPECT_EQ(CombineShares(mixed).status().message(), "the shares come from different splits");
  EXPECT_FALSE(SplitSecret(RandomBytes(32), 2, 3, 1).ok());
  EXPECT_FALSE(SplitSecret(RandomBytes(32), 5, 1, 1).ok());
}

TEST(Aead, OpensOnlyWithTheSameKeyAndAssociatedData) {
  const Bytes key = RandomBytes(32), other = RandomBytes(32);
  const Bytes aad = ToBytes("kv/tier0/a#1"), aad2 = ToBytes("kv/tier0/b#1");
  auto sealed = AeadSeal(key, aad, ToBytes("s3cret"));
  ASSERT_TRUE(sealed.ok());
  auto opened = AeadOpen(key, aad, *sealed);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->view(), "s3cret");
  EXPECT_EQ(AeadOpen(key, aad2, *sealed).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(AeadOpen(other, aad, *sealed).status().code(), absl::StatusCode::kDataLoss);
  Bytes flipped = *sealed;
  flipped[14] ^= 1;
  EXPECT_EQ(AeadOpen(key, aad, flipped).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(AeadOpen(key, aad, ByteSpan(sealed->data(), 20)).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace warden
