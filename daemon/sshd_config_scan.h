// Reads sshd_config the way sshd does, for `configure-host`: every file it Includes (globs, in
// sorted order, relative paths under ETC/ssh, at most 16 levels deep as in sshd), and whether each
// line sits in the global section or after a Match line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace warden {

struct SshdDirective {
  std::string file;     // where the line is
  int line = 0;         // 1-based
  std::string keyword;  // as written
  std::string value;    // the rest of the line, quotes removed
  int match_line = 0;   // the Match line in force (in `match_file`), 0 in the global section
  std::string match_file;
};

// The directives of `path` and its Includes whose keyword (case-insensitively) is one of
// `keywords`, in the order sshd reads them. Lines between "# BEGIN warden" and "# END warden"
// are skipped. `etc` stands for /etc: an absolute Include below /etc is read below `etc` (tests
// and `--etc` point it at a copy). An Include that matches no file is skipped, as sshd does.
absl::StatusOr<std::vector<SshdDirective>> FindSshdDirectives(
    const std::string& etc, const std::string& path, const std::vector<std::string_view>& keywords);

}  // namespace warden
