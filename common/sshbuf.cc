#include "common/sshbuf.h"

#include "common/strings.h"

namespace warden {
namespace {
// No single string in any format Warden parses may exceed this; it caps allocations driven by
// attacker-chosen lengths.
constexpr size_t kMaxString = 1 << 24;
}  // namespace

absl::Status SshReader::Truncated(std::string_view what, size_t need) const {
  return absl::InvalidArgumentError(StrCat("truncated ", what, ": need ", need,
                                                 " bytes, ", remaining(), " left"));
}

absl::StatusOr<uint8_t> SshReader::U8(std::string_view what) {
  if (remaining() < 1) return Truncated(what, 1);
  return data_[pos_++];
}

absl::StatusOr<uint32_t> SshReader::U32(std::string_view what) {
  if (remaining() < 4) return Truncated(what, 4);
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = v << 8 | data_[pos_++];
  return v;
}

absl::StatusOr<uint64_t> SshReader::U64(std::string_view what) {
  if (remaining() < 8) return Truncated(what, 8);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | data_[pos_++];
  return v;
}

absl::StatusOr<ByteSpan> SshReader::String(std::string_view what) {
  ASSIGN_OR_RETURN(uint32_t len, U32(what));
  if (len > kMaxString) {
    return absl::InvalidArgumentError(StrCat(what, " is ", len, " bytes; the limit is ",
                                                   kMaxString));
  }
  if (remaining() < len) return Truncated(what, len);
  ByteSpan s = data_.subspan(pos_, len);
  pos_ += len;
  return s;
}

absl::StatusOr<std::string> SshReader::Text(std::string_view what) {
  ASSIGN_OR_RETURN(ByteSpan s, String(what));
  for (uint8_t c : s) {
    if (c == 0 || c == '\n' || c == '\r') {
      return absl::InvalidArgumentError(StrCat(what, " contains a NUL or newline"));
    }
  }
  return std::string(AsChars(s));
}

absl::StatusOr<SshReader> SshReader::Child(std::string_view what) {
  ASSIGN_OR_RETURN(ByteSpan s, String(what));
  return SshReader(s);
}

absl::StatusOr<ByteSpan> SshReader::PositiveMpint(std::string_view what) {
  ASSIGN_OR_RETURN(ByteSpan s, String(what));
  if (s.empty()) return s;
  if (s[0] & 0x80) return absl::InvalidArgumentError(StrCat(what, " is negative"));
  if (s[0] == 0) {
    if (s.size() == 1 || !(s[1] & 0x80)) {
      return absl::InvalidArgumentError(StrCat(what, " has a needless leading zero"));
    }
    s = s.subspan(1);
  }
  return s;
}

absl::Status SshReader::ExpectEnd(std::string_view what) const {
  if (!empty()) {
    return absl::InvalidArgumentError(StrCat(remaining(), " trailing bytes after ", what));
  }
  return absl::OkStatus();
}

void SshWriter::U32(uint32_t v) {
  for (int i = 3; i >= 0; i--) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void SshWriter::U64(uint64_t v) {
  for (int i = 7; i >= 0; i--) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void SshWriter::String(ByteSpan s) {
  U32(static_cast<uint32_t>(s.size()));
  Raw(s);
}

void SshWriter::Mpint(ByteSpan m) {
  size_t i = 0;
  while (i < m.size() && m[i] == 0) i++;
  m = m.subspan(i);
  bool pad = !m.empty() && (m[0] & 0x80);
  U32(static_cast<uint32_t>(m.size() + (pad ? 1 : 0)));
  if (pad) U8(0);
  Raw(m);
}

}  // namespace warden
