#include "cli/screen.h"

#include <png.h>
#include <zstd.h>

#include <charconv>
#include <cstring>

#include "common/strings.h"

namespace warden::cli {

absl::Status ScreenReplay::Apply(const v1::Screen& s) {
  if (s.desktop_width() == 0 || s.desktop_height() == 0 || s.desktop_width() > kMaxScreenSide ||
      s.desktop_height() > kMaxScreenSide)
    return absl::DataLossError(StrCat("a recorded screen of ", s.desktop_width(), "x",
                                      s.desktop_height(), " pixels (at most ", kMaxScreenSide,
                                      " a side)"));
  if (s.width() == 0 || s.height() == 0 || s.x() >= s.desktop_width() ||
      s.width() > s.desktop_width() - s.x() || s.y() >= s.desktop_height() ||
      s.height() > s.desktop_height() - s.y())
    return absl::DataLossError(StrCat("a recorded rectangle ", s.width(), "x", s.height(), "+",
                                      s.x(), "+", s.y(), " outside its ", s.desktop_width(), "x",
                                      s.desktop_height(), " screen"));
  const size_t want = static_cast<size_t>(s.width()) * s.height() * 4;
  const unsigned long long size =
      ZSTD_getFrameContentSize(s.pixels_zstd().data(), s.pixels_zstd().size());
  if (size != want)
    return absl::DataLossError(StrCat("a recorded rectangle's pixels declare ",
                                      size >= ZSTD_CONTENTSIZE_ERROR ? 0 : size, " bytes, not ", want));
  std::vector<uint8_t> raw(want);
  const size_t n = ZSTD_decompress(raw.data(), raw.size(), s.pixels_zstd().data(), s.pixels_zstd().size());
  if (ZSTD_isError(n) || n != want)
    return absl::DataLossError("a recorded rectangle's pixels do not decompress");
  if (s.desktop_width() != width_ || s.desktop_height() != height_) {
    width_ = s.desktop_width();
    height_ = s.desktop_height();
    pixels_.assign(static_cast<size_t>(width_) * height_ * 4, 0);
  }
  for (uint32_t row = 0; row < s.height(); row++) {
    memcpy(pixels_.data() + ((static_cast<size_t>(s.y()) + row) * width_ + s.x()) * 4,
           raw.data() + static_cast<size_t>(row) * s.width() * 4, static_cast<size_t>(s.width()) * 4);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ScreenReplay::Png() const {
  if (width_ == 0) return absl::NotFoundError("the recording has no screen at that moment");
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = width_;
  image.height = height_;
  image.format = PNG_FORMAT_BGRA;
  // X is not alpha: drawn opaque.
  std::vector<uint8_t> opaque = pixels_;
  for (size_t i = 3; i < opaque.size(); i += 4) opaque[i] = 0xff;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, opaque.data(), 0, nullptr))
    return absl::InternalError(StrCat("PNG: ", image.message));
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&image, out.data(), &size, 0, opaque.data(), 0, nullptr))
    return absl::InternalError(StrCat("PNG: ", image.message));
  out.resize(size);
  return out;
}

absl::StatusOr<int64_t> ParseOffset(std::string_view text) {
  double total = 0;
  int parts = 0;
  for (std::string_view p : StrSplit(text, ':', false)) {
    double v = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (p.empty() || p.size() > 12 || p.find_first_not_of("0123456789.") != std::string_view::npos ||
        ec != std::errc() || end != p.data() + p.size() || ++parts > 3)
      return absl::InvalidArgumentError(StrCat("--at \"", text, "\": use SECONDS, MM:SS or HH:MM:SS"));
    total = total * 60 + v;
  }
  if (parts == 0) return absl::InvalidArgumentError("--at is empty");
  if (total > 1e6) return absl::InvalidArgumentError(StrCat("--at \"", text, "\" is past any session"));
  return static_cast<int64_t>(total * 1e9);
}

void PngWriter::Event(const v1::RecordingEvent& ev) {
  if (!status_.ok() || !ev.has_screen() || ev.offset_ns() > at_ns_) return;
  status_ = screen_.Apply(ev.screen());
}

void PngWriter::Finish() {
  if (!status_.ok()) return;
  absl::StatusOr<std::string> png = screen_.Png();
  if (!png.ok()) {
    status_ = png.status();
    return;
  }
  out_ << *png;
}

}  // namespace warden::cli
