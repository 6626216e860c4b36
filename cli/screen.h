// What wardenctl makes of an RDP session's recording (warden-rdpgw): the screen at any moment,
// rebuilt from the recorded rectangles (Screen events: a keyframe, then what changed), written
// as a PNG.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/replay.h"
#include "common/status.h"
#include "warden/v1/recording.pb.h"

namespace warden::cli {

inline constexpr uint32_t kMaxScreenSide = 8192;

// The screen as the recording drew it so far.
class ScreenReplay {
 public:
  // Draws one recorded rectangle; an error for a rectangle outside the screen, pixels that are
  // not width*height*4 bytes, or a screen larger than kMaxScreenSide (nothing is drawn).
  absl::Status Apply(const v1::Screen& s);
  uint32_t width() const { return width_; }
  uint32_t height() const { return height_; }
  const std::vector<uint8_t>& bgrx() const { return pixels_; }
  // The screen as a PNG (RGB, 8 bits per channel).
  absl::StatusOr<std::string> Png() const;

 private:
  uint32_t width_ = 0, height_ = 0;
  std::vector<uint8_t> pixels_;  // B G R X
};

// "83", "83.5", "1:23", "00:01:23" -> nanoseconds.
absl::StatusOr<int64_t> ParseOffset(std::string_view text);

// Draws every Screen event up to `at_ns` from the session's start, then writes the screen as a
// PNG to `out` at Finish (an error there if the recording has no screen by then).
class PngWriter : public ReplayWriter {
 public:
  PngWriter(std::ostream& out, int64_t at_ns) : out_(out), at_ns_(at_ns) {}
  void Event(const v1::RecordingEvent& ev) override;
  void Finish() override;
  const absl::Status& status() const { return status_; }

 private:
  std::ostream& out_;
  const int64_t at_ns_;
  ScreenReplay screen_;
  absl::Status status_;
};

}  // namespace warden::cli
