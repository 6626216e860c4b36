#include "common/recording.h"

#include <zstd.h>

#include <memory>

#include "common/strings.h"

namespace warden {

absl::StatusOr<Bytes> CompressEvents(const v1::RecordingEvents& events) {
  std::string raw;
  if (!events.SerializeToString(&raw)) return absl::InternalError("cannot serialise events");
  // Level 1: the recorder compresses a whole terminal flood as it happens, on the host. One
  // context per thread, reused: a fresh one per chunk costs more than a small chunk's data.
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(),
                                                                       ZSTD_freeCCtx);
  if (!cctx) return absl::ResourceExhaustedError("zstd: no memory for a compression context");
  Bytes out(ZSTD_compressBound(raw.size()));
  size_t n = ZSTD_compressCCtx(cctx.get(), out.data(), out.size(), raw.data(), raw.size(), 1);
  if (ZSTD_isError(n)) return absl::InternalError(StrCat("zstd: ", ZSTD_getErrorName(n)));
  out.resize(n);
  return out;
}

absl::StatusOr<v1::RecordingEvents> DecompressEvents(std::string_view data) {
  if (data.size() > kMaxChunkCompressed)
    return absl::InvalidArgumentError(
        StrCat("recording chunk of ", data.size(), " bytes exceeds ", kMaxChunkCompressed));
  size_t frame = ZSTD_findFrameCompressedSize(data.data(), data.size());
  if (ZSTD_isError(frame) || frame != data.size())
    return absl::InvalidArgumentError("recording chunk is not exactly one zstd frame");
  unsigned long long size = ZSTD_getFrameContentSize(data.data(), data.size());
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR)
    return absl::InvalidArgumentError("recording chunk does not declare its size");
  if (size > kMaxChunkRaw)
    return absl::InvalidArgumentError(
        StrCat("recording chunk expands to ", size, " bytes; the limit is ", kMaxChunkRaw));
  std::string raw(size, '\0');
  size_t n = ZSTD_decompress(raw.data(), raw.size(), data.data(), data.size());
  if (ZSTD_isError(n) || n != size)
    return absl::InvalidArgumentError("recording chunk is corrupt (zstd)");
  v1::RecordingEvents events;
  if (!events.ParseFromString(raw))
    return absl::InvalidArgumentError("recording chunk does not hold recording events");
  return events;
}

}  // namespace warden
