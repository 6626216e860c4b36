// Durations as people write them in policy files and on the command line: "90s", "30m", "4h",
// "1h30m", "2d". One parser for the controller and wardenctl, so what one accepts the other does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace warden {

// Seconds; an error names the text and what is expected ("1h junk", "30", "5y" are refused).
absl::StatusOr<int64_t> ParseDuration(std::string_view text);
// The shortest such text for `seconds` ("1h30m", "4h", "2d").
std::string FormatDuration(int64_t seconds);

}  // namespace warden
