#include "daemon/login_records.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utmp.h>

#include <cstring>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/strings.h"

namespace warden {
namespace {

// A fixed-size field of a record: up to its first NUL, never past its end.
std::string Field(const char* p, size_t n) { return std::string(p, strnlen(p, n)); }

constexpr size_t kReadBytes = 1 << 20;

}  // namespace

std::vector<LoginRecord> ParseLoginRecords(std::string_view data, size_t* consumed) {
  std::vector<LoginRecord> out;
  size_t at = 0;
  for (; at + sizeof(struct utmp) <= data.size(); at += sizeof(struct utmp)) {
    struct utmp u;
    std::memcpy(&u, data.data() + at, sizeof u);
    if (u.ut_type != USER_PROCESS) continue;
    LoginRecord r;
    r.user = Field(u.ut_user, sizeof u.ut_user);
    if (r.user.empty()) continue;
    r.line = Field(u.ut_line, sizeof u.ut_line);
    r.from = Field(u.ut_host, sizeof u.ut_host);
    r.at_us = int64_t{u.ut_tv.tv_sec} * 1000000 + u.ut_tv.tv_usec;
    r.pid = u.ut_pid;
    out.push_back(std::move(r));
  }
  *consumed = at;
  return out;
}

std::vector<HostLogin> ClassifyLogins(const std::vector<LoginRecord>& records, const Inventory& inv) {
  std::vector<HostLogin> out;
  for (const LoginRecord& r : records) {
    std::string kind;
    for (const std::string& b : inv.break_glass)
      if (b == r.user) kind = "break_glass";
    if (kind.empty())
      for (const InventoryAccount& a : inv.privileged)
        if (a.name == r.user) kind = "bypass";
    if (kind.empty()) continue;
    // utmp fields are whatever the login program wrote (a terminal emulator's $DISPLAY, say).
    out.push_back({CleanText(r.user, kMaxInventoryText), CleanText(r.line, kMaxInventoryText),
                   CleanText(r.from, kMaxInventoryText), r.at_us, r.pid, kind,
                   CleanText(StrCat(r.at_us, ":", r.pid, ":", r.line), kMaxInventoryText)});
  }
  return out;
}

absl::Status LoginRecordReader::LoadCursor() {
  absl::StatusOr<std::string> text = ReadFile(cursor_path_);
  if (!text.ok() && access(cursor_path_.c_str(), F_OK) == 0)
    return absl::Status(text.status().code(),
                        StrCat(cursor_path_, ": ", text.status().message(), " (the login records' place)"));
  if (text.ok()) {
    try {
      nlohmann::json j = nlohmann::json::parse(*text);
      ino_ = j.at("ino").get<uint64_t>();
      offset_ = j.at("offset").get<uint64_t>();
      loaded_ = true;
      return absl::OkStatus();
    } catch (const nlohmann::json::exception& e) {
      return absl::DataLossError(StrCat(cursor_path_, " is corrupt (", e.what(),
                                        "); remove it to start again at the end of ", path_));
    }
  }
  // No cursor yet: what the file holds is the past.
  struct stat st;
  if (stat(path_.c_str(), &st) == 0) {
    ino_ = st.st_ino;
    offset_ = static_cast<uint64_t>(st.st_size) / sizeof(struct utmp) * sizeof(struct utmp);
  }
  read_ino_ = ino_;
  read_offset_ = offset_;
  loaded_ = true;
  return Commit();
}

absl::StatusOr<std::vector<LoginRecord>> LoginRecordReader::ReadNew(size_t max) {
  if (!loaded_) RETURN_IF_ERROR(LoadCursor());
  std::vector<LoginRecord> out;
  read_ino_ = ino_;
  read_offset_ = offset_;
  const int raw = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) {
    if (errno == ENOENT) return out;
    return absl::InternalError(StrCat(path_, ": ", strerror(errno)));
  }
  std::unique_ptr<int, void (*)(int*)> fd(new int(raw), [](int* f) {
    close(*f);
    delete f;
  });
  struct stat st;
  if (fstat(*fd, &st) != 0) return absl::InternalError(StrCat(path_, ": ", strerror(errno)));
  uint64_t offset = offset_;
  if (st.st_ino != ino_ || static_cast<uint64_t>(st.st_size) < offset) offset = 0;  // replaced or cut
  std::string buf(kReadBytes, '\0');
  while (out.size() < max) {
    const ssize_t n = pread(*fd, buf.data(), buf.size(), static_cast<off_t>(offset));
    if (n < 0) return absl::InternalError(StrCat(path_, ": ", strerror(errno)));
    size_t consumed = 0;
    std::vector<LoginRecord> got = ParseLoginRecords(std::string_view(buf.data(), n), &consumed);
    if (consumed == 0) break;
    if (out.size() + got.size() > max) {
      // Stop after the record that fills `max`: find its place by parsing record by record.
      size_t at = 0;
      for (size_t used = 0; at < consumed && out.size() < max; at += sizeof(struct utmp), used = 0) {
        std::vector<LoginRecord> one =
            ParseLoginRecords(std::string_view(buf.data() + at, sizeof(struct utmp)), &used);
        for (LoginRecord& r : one) out.push_back(std::move(r));
      }
      offset += at;
      break;
    }
    for (LoginRecord& r : got) out.push_back(std::move(r));
    offset += consumed;
  }
  read_ino_ = st.st_ino;
  read_offset_ = offset;
  return out;
}

absl::Status LoginRecordReader::Commit() {
  nlohmann::json j = {{"ino", static_cast<uint64_t>(read_ino_)}, {"offset", read_offset_}};
  RETURN_IF_ERROR(WriteFileAtomic(cursor_path_, j.dump() + "\n", 0600));
  ino_ = read_ino_;
  offset_ = read_offset_;
  return absl::OkStatus();
}

}  // namespace warden
