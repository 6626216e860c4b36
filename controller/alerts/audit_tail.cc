#include "controller/alerts/audit_tail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/files.h"
#include "common/strings.h"

namespace warden {
namespace {

constexpr size_t kReadBytes = 1 << 20;
constexpr size_t kMaxLineBytes = 64 << 20;

// The "seq" of an audit line: the number under the object's own key "seq", not one nested in
// its values (an API call's arguments are the caller's), found without parsing the whole line.
uint64_t SeqOf(std::string_view line) {
  int depth = 0;
  bool in_string = false, key_is_seq = false, want_value = false;
  size_t string_start = 0;
  for (size_t i = 0; i < line.size(); i++) {
    const char c = line[i];
    if (in_string) {
      if (c == '\\') {
        i++;
      } else if (c == '"') {
        in_string = false;
        key_is_seq = depth == 1 && line.substr(string_start, i - string_start) == "seq";
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        string_start = i + 1;
        want_value = false;
        break;
      case '{':
      case '[':
        depth++;
        want_value = false;
        break;
      case '}':
      case ']':
        depth--;
        break;
      case ':':
        want_value = key_is_seq && depth == 1;
        key_is_seq = false;
        break;
      default:
        if (want_value && c >= '0' && c <= '9') {
          uint64_t v = 0;
          for (; i < line.size() && line[i] >= '0' && line[i] <= '9'; i++)
            v = v * 10 + static_cast<uint64_t>(line[i] - '0');
          return v;
        }
        if (c != ' ') want_value = false;
    }
  }
  return 0;
}

}  // namespace

absl::StatusOr<std::vector<AuditLine>> AuditTail::ReadAt(const AuditCursor& from,
                                                        size_t max_lines, bool* continues) {
  std::vector<AuditLine> out;
  *continues = true;
  const int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::UnavailableError(StrCat("audit log ", path_, ": ", strerror(errno)));
  std::string buf;
  AuditCursor at = from;
  bool first = true;
  size_t want = kReadBytes;
  for (;;) {
    buf.resize(want);
    const ssize_t n = pread(fd, buf.data(), buf.size(), static_cast<off_t>(at.offset));
    if (n < 0) {
      const int err = errno;
      close(fd);
      return absl::UnavailableError(StrCat("audit log ", path_, ": ", strerror(err)));
    }
    size_t pos = 0;
    for (size_t nl; out.size() < max_lines &&
                    (nl = buf.find('\n', pos)) < static_cast<size_t>(n);
         pos = nl + 1) {
      std::string_view line(buf.data() + pos, nl - pos);
      const uint64_t seq = SeqOf(line);
      if (first && at.seq != 0 && at.offset != 0 && seq != at.seq + 1) {
        *continues = false;
        close(fd);
        return out;
      }
      first = false;
      at.offset += nl + 1 - pos;
      if (seq <= at.seq) continue;  // read again from the start: consumed already
      at.seq = seq;
      out.push_back({seq, std::string(line), at});
    }
    if (out.size() >= max_lines) break;
    if (pos == 0) {
      // No whole line: one still being written, or one longer than the buffer.
      if (static_cast<size_t>(n) < want) break;
      if (want >= kMaxLineBytes) {
        close(fd);
        return absl::DataLossError(StrCat("audit log ", path_, ": a line at byte ", at.offset,
                                          " is longer than ", kMaxLineBytes, " bytes"));
      }
      want *= 2;
      continue;
    }
    if (static_cast<size_t>(n) < want) break;
  }
  close(fd);
  if (first && from.seq != 0 && from.offset > 0) {
    // Nothing after the cursor: still the same file if the byte before it ends a line.
    struct stat st;
    if (stat(path_.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) < from.offset)
      *continues = false;
  }
  return out;
}

absl::StatusOr<std::vector<AuditLine>> AuditTail::Read(const AuditCursor& from, size_t max_lines) {
  bool continues = true;
  ASSIGN_OR_RETURN(std::vector<AuditLine> out, ReadAt(from, max_lines, &continues));
  if (continues) return out;
  return ReadAt({from.seq, 0}, max_lines, &continues);
}

absl::StatusOr<AuditCursor> LoadCursor(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    if (access(path.c_str(), F_OK) != 0 && errno == ENOENT) return AuditCursor{};
    return text.status();
  }
  AuditCursor c;
  unsigned long long seq = 0, offset = 0;
  if (sscanf(text->c_str(), "%llu %llu", &seq, &offset) != 2)
    return absl::DataLossError(StrCat(path, " is not a cursor (\"SEQ OFFSET\"); remove it to send "
                                            "the whole audit log again"));
  c.seq = seq;
  c.offset = offset;
  return c;
}

absl::Status SaveCursor(const std::string& path, const AuditCursor& c) {
  return WriteFileAtomic(path, StrCat(c.seq, " ", c.offset, "\n"), 0600);
}

}  // namespace warden
