#include "cli/screen.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <sstream>

#include "common/strings.h"

namespace warden::cli {
namespace {

// A rectangle of one colour (B, G, R) on a WxH screen.
v1::Screen Rect(uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint8_t b, uint8_t g, uint8_t r,
                uint32_t dw = 8, uint32_t dh = 4) {
  std::string raw;
  for (uint32_t i = 0; i < w * h; i++) raw += std::string{char(b), char(g), char(r), '\0'};
  std::string z(ZSTD_compressBound(raw.size()), '\0');
  z.resize(ZSTD_compress(z.data(), z.size(), raw.data(), raw.size(), 1));
  v1::Screen s;
  s.set_x(x);
  s.set_y(y);
  s.set_width(w);
  s.set_height(h);
  s.set_desktop_width(dw);
  s.set_desktop_height(dh);
  s.set_pixels_zstd(z);
  return s;
}

uint32_t Pixel(const ScreenReplay& s, uint32_t x, uint32_t y) {
  const uint8_t* p = s.bgrx().data() + (static_cast<size_t>(y) * s.width() + x) * 4;
  return p[2] << 16 | p[1] << 8 | p[0];
}

TEST(ScreenReplay, DrawsRectanglesOverAKeyframe) {
  ScreenReplay s;
  ASSERT_TRUE(s.Apply(Rect(0, 0, 8, 4, 0xcc, 0x66, 0x33)).ok());
  ASSERT_TRUE(s.Apply(Rect(6, 2, 2, 2, 0x00, 0x00, 0xff)).ok());
  EXPECT_EQ(Pixel(s, 0, 0), 0x3366ccu);
  EXPECT_EQ(Pixel(s, 5, 3), 0x3366ccu);
  EXPECT_EQ(Pixel(s, 6, 2), 0xff0000u);
  EXPECT_EQ(Pixel(s, 7, 3), 0xff0000u);
  auto png = s.Png();
  ASSERT_TRUE(png.ok()) << png.status().message();
  EXPECT_EQ(png->substr(1, 3), "PNG");
  // A new screen size starts a new (black) screen.
  ASSERT_TRUE(s.Apply(Rect(0, 0, 1, 1, 1, 2, 3, 2, 2)).ok());
  EXPECT_EQ(s.width(), 2u);
  EXPECT_EQ(Pixel(s, 1, 1), 0u);
}

TEST(ScreenReplay, RefusesWhatDoesNotFitAndDrawsNothing) {
  ScreenReplay s;
  ASSERT_TRUE(s.Apply(Rect(0, 0, 8, 4, 1, 1, 1)).ok());
  auto outside = s.Apply(Rect(7, 0, 2, 1, 9, 9, 9));
  EXPECT_NE(outside.message().find("outside its 8x4 screen"), std::string::npos) << outside.message();
  v1::Screen wrong = Rect(0, 0, 2, 2, 9, 9, 9);
  wrong.set_width(3);  // the pixels are for 2x2
  EXPECT_NE(s.Apply(wrong).message().find("declare 16 bytes, not 24"), std::string::npos);
  v1::Screen junk = Rect(0, 0, 1, 1, 9, 9, 9);
  junk.set_pixels_zstd("not zstd");
  EXPECT_FALSE(s.Apply(junk).ok());
  EXPECT_NE(s.Apply(Rect(0, 0, 1, 1, 9, 9, 9, 9000, 4)).message().find("at most 8192"), std::string::npos);
  EXPECT_EQ(Pixel(s, 7, 0), 0x010101u);
  EXPECT_FALSE(ScreenReplay().Png().ok());
}

TEST(ScreenReplay, PngWriterStopsAtTheMoment) {
  std::ostringstream out;
  PngWriter w(out, 2'000'000'000);
  v1::RecordingEvent first, later;
  first.set_offset_ns(1'000'000'000);
  *first.mutable_screen() = Rect(0, 0, 8, 4, 0, 0, 0);
  later.set_offset_ns(3'000'000'000);
  *later.mutable_screen() = Rect(0, 0, 8, 4, 9, 9, 9, 16, 16);
  w.Event(first);
  w.Event(later);
  w.Finish();
  ASSERT_TRUE(w.status().ok()) << w.status().message();
  // 8x4, not the later 16x16: the IHDR's width and height.
  EXPECT_EQ(out.str().substr(16, 8), std::string("\0\0\0\x08\0\0\0\x04", 8));
}

TEST(ParseOffset, SecondsMinutesHours) {
  EXPECT_EQ(*ParseOffset("83"), 83'000'000'000);
  EXPECT_EQ(*ParseOffset("1:23"), 83'000'000'000);
  EXPECT_EQ(*ParseOffset("00:01:23"), 83'000'000'000);
  EXPECT_EQ(*ParseOffset("0.5"), 500'000'000);
  for (const char* bad : {"", "1:x", "1::2", "1:2:3:4", "-1", "1e9", ".", "1.2.3", "999999999999:0:0"}) {
    EXPECT_FALSE(ParseOffset(bad).ok()) << bad;
  }
}

TEST(Fingerprint, NormalizesTheWaysPeopleWriteIt) {
  const std::string hex = "7c98645bfb8e7da5ab34ade7a83b3452a3822f1fe0520121ccd47b1e3033b7f9";
  EXPECT_EQ(NormalizeSha256Fingerprint("SHA256:7C:98:64:5B:FB:8E:7D:A5:AB:34:AD:E7:A8:3B:34:52:A3:82:"
                                       "2F:1F:E0:52:01:21:CC:D4:7B:1E:30:33:B7:F9"),
            hex);
  EXPECT_EQ(NormalizeSha256Fingerprint(hex), hex);
  EXPECT_EQ(NormalizeSha256Fingerprint(hex.substr(2)), "");
  EXPECT_EQ(NormalizeSha256Fingerprint(hex + "00"), "");
  EXPECT_EQ(NormalizeSha256Fingerprint("zz" + hex.substr(2)), "");
}

}  // namespace
}  // namespace warden::cli
