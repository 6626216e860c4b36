// Whole-file reads and crash-safe replacement of files.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace warden {

absl::StatusOr<std::string> ReadFile(const std::string& path);

// Replaces `path` atomically: writes PATH.tmp, fsyncs it, renames it over `path` and fsyncs the
// directory. Readers see the old file or the new one, never a mix; a crash leaves one of them.
absl::Status WriteFileAtomic(const std::string& path, std::string_view data, int mode);

}  // namespace warden
