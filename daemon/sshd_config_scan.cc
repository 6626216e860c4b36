#include "daemon/sshd_config_scan.h"

#include <glob.h>
#include <strings.h>

#include "common/files.h"
#include "common/strings.h"

namespace warden {
namespace {

constexpr int kMaxIncludeDepth = 16;  // sshd's SERVCONF_MAX_DEPTH

struct Scan {
  const std::string& etc;
  const std::vector<std::string_view>& keywords;
  std::vector<SshdDirective> out;
};

bool KeywordIs(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// "Keyword value", "Keyword=value" or "Keyword = value"; value unquoted.
void SplitDirective(std::string_view line, std::string_view* keyword, std::string_view* value) {
  size_t end = line.find_first_of(" \t=");
  *keyword = line.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? "" : line.substr(end);
  rest = StripSpaces(rest);
  if (!rest.empty() && rest[0] == '=') rest = StripSpaces(rest.substr(1));
  if (rest.size() >= 2 && rest.front() == '"' && rest.back() == '"') {
    rest = rest.substr(1, rest.size() - 2);
  }
  *value = rest;
}

std::string UnderEtc(const std::string& etc, std::string_view path) {
  if (path.substr(0, 5) == "/etc/") return StrCat(etc, path.substr(4));
  if (path[0] == '/') return std::string(path);
  return StrCat(etc, "/ssh/", path);  // sshd: relative Include paths are under /etc/ssh
}

absl::Status ScanFile(Scan& s, const std::string& path, int depth, int* match_line,
                      std::string* match_file);

absl::Status ScanInclude(Scan& s, const std::string& file, int n, std::string_view patterns,
                         int depth, int* match_line, std::string* match_file) {
  if (depth >= kMaxIncludeDepth) {
    return absl::InvalidArgumentError(
        StrCat(file, ":", n, ": Include nested more than ", kMaxIncludeDepth, " deep"));
  }
  for (std::string_view pattern : StrSplit(patterns, ' ', /*skip_empty=*/true)) {
    glob_t g{};
    const int rc = glob(UnderEtc(s.etc, pattern).c_str(), 0, nullptr, &g);
    if (rc != 0 && rc != GLOB_NOMATCH) {
      globfree(&g);
      return absl::UnavailableError(StrCat(file, ":", n, ": cannot expand Include ", pattern));
    }
    // The Match state is shared with the included files in both directions: a line of doubtful
    // scope counts as conditional, which configure-host treats the stricter way.
    absl::Status st = absl::OkStatus();
    for (size_t i = 0; i < g.gl_pathc && st.ok(); i++) {
      st = ScanFile(s, g.gl_pathv[i], depth + 1, match_line, match_file);
    }
    globfree(&g);
    RETURN_IF_ERROR(st);
  }
  return absl::OkStatus();
}

absl::Status ScanFile(Scan& s, const std::string& path, int depth, int* match_line,
                      std::string* match_file) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  int n = 0;
  bool managed = false;
  for (std::string_view raw : StrSplit(text, '\n', false)) {
    n++;
    std::string_view line = StripSpaces(raw);
    if (line.substr(0, 14) == "# BEGIN warden") managed = true;
    if (managed) {
      managed = line != "# END warden";
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    std::string_view keyword, value;
    SplitDirective(line, &keyword, &value);
    if (KeywordIs(keyword, "Match")) {
      // "Match all" ends a Match block and returns to lines that apply to every connection.
      const bool all = KeywordIs(StripSpaces(value), "all");
      *match_line = all ? 0 : n;
      *match_file = all ? "" : path;
      continue;
    }
    if (KeywordIs(keyword, "Include")) {
      RETURN_IF_ERROR(ScanInclude(s, path, n, value, depth, match_line, match_file));
      continue;
    }
    for (std::string_view k : s.keywords) {
      if (!KeywordIs(keyword, k)) continue;
      s.out.push_back({path, n, std::string(keyword), std::string(value), *match_line, *match_file});
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<SshdDirective>> FindSshdDirectives(
    const std::string& etc, const std::string& path, const std::vector<std::string_view>& keywords) {
  Scan s{etc, keywords, {}};
  int match_line = 0;
  std::string match_file;
  RETURN_IF_ERROR(ScanFile(s, path, 0, &match_line, &match_file));
  return std::move(s.out);
}

}  // namespace warden
