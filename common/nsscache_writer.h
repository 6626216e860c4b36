// Builds NSS cache images (see nsscache.h) and writes them atomically. Used by wardend; the
// reader side lives in plain C for the NSS module.
#pragma once

#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace warden {

struct NssUser {
  std::string name, gecos, home, shell;
  uint32_t uid = 0, gid = 0;
  int64_t expires = 0;
};

struct NssGroup {
  std::string name;
  uint32_t gid = 0;
  std::vector<std::string> members;
  int64_t expires = 0;
};

// Validates (unique names and ids, no ':' or control characters) and encodes.
absl::StatusOr<Bytes> BuildNssCache(std::vector<NssUser> users, std::vector<NssGroup> groups,
                                    uint64_t generation);
// Writes `image` to `path` via a temporary file, fsync and rename, mode 0644.
absl::Status WriteNssCacheFile(const std::string& path, ByteSpan image);

}  // namespace warden
