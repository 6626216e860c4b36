// Bounds-checked reader and writer for the SSH wire encoding (RFC 4251 section 5): uint32,
// uint64, string, mpint. Every read checks the remaining length; nested strings are read as
// child readers that cannot run past their parent. Errors name the field being read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"

namespace warden {

class SshReader {
 public:
  explicit SshReader(ByteSpan data) : data_(data) {}

  size_t remaining() const { return data_.size() - pos_; }
  bool empty() const { return remaining() == 0; }
  // Bytes not consumed yet.
  ByteSpan rest() const { return data_.subspan(pos_); }

  // Each reader takes `what`, the field's name, for the error message.
  absl::StatusOr<uint8_t> U8(std::string_view what);
  absl::StatusOr<uint32_t> U32(std::string_view what);
  absl::StatusOr<uint64_t> U64(std::string_view what);
  // A length-prefixed string; the span points into the underlying buffer.
  absl::StatusOr<ByteSpan> String(std::string_view what);
  // A length-prefixed string that must be printable UTF-8 without NUL (names, key ids).
  absl::StatusOr<std::string> Text(std::string_view what);
  // A length-prefixed string read as a nested buffer.
  absl::StatusOr<SshReader> Child(std::string_view what);
  // An mpint that must be non-negative, without needless leading zero bytes; returns the
  // magnitude (big-endian, no sign byte).
  absl::StatusOr<ByteSpan> PositiveMpint(std::string_view what);
  // Fails unless every byte has been consumed.
  absl::Status ExpectEnd(std::string_view what) const;

 private:
  absl::Status Truncated(std::string_view what, size_t need) const;
  ByteSpan data_;
  size_t pos_ = 0;
};

class SshWriter {
 public:
  void U8(uint8_t v) { out_.push_back(v); }
  void U32(uint32_t v);
  void U64(uint64_t v);
  void String(ByteSpan s);
  void String(std::string_view s) { String(AsBytes(s)); }
  // Writes an unsigned big-endian magnitude as an mpint (adds a 0 byte where the top bit is set,
  // strips leading zeros).
  void Mpint(ByteSpan magnitude);
  void Raw(ByteSpan s) { out_.insert(out_.end(), s.begin(), s.end()); }

  const Bytes& bytes() const { return out_; }
  Bytes Take() { return std::move(out_); }

 private:
  Bytes out_;
};

}  // namespace warden
