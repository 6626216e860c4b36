#include "common/recording.h"

// LZ4F_uncompressedUpdate (liblz4 >= 1.9.3, exported by Debian 12's liblz4.so.1).
#define LZ4F_STATIC_LINKING_ONLY
#include <lz4frame.h>
#include <zstd.h>

#include <memory>

#include "common/strings.h"

namespace warden {

namespace {

constexpr uint32_t kLz4FrameMagic = 0x184D2204;
constexpr uint32_t kZstdFrameMagic = 0xFD2FB528;

uint32_t LittleEndian32(std::string_view b) {
  return static_cast<uint32_t>(static_cast<uint8_t>(b[0])) |
         static_cast<uint32_t>(static_cast<uint8_t>(b[1])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[2])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[3])) << 24;
}

absl::Status CheckRawSize(unsigned long long size) {
  if (size > kMaxChunkRaw) {
    return absl::InvalidArgumentError(
        StrCat("recording chunk expands to ", size, " bytes; the limit is ", kMaxChunkRaw));
  }
  return absl::OkStatus();
}

// One LZ4 frame whose header declares its content size (0 is also how LZ4 says "not declared":
// such a frame must then hold nothing), decompressed into exactly that many bytes.
absl::StatusOr<std::string> Lz4FrameWith(LZ4F_dctx* dctx, std::string_view data) {
  LZ4F_frameInfo_t info{};
  size_t pos = data.size();
  if (LZ4F_isError(LZ4F_getFrameInfo(dctx, &info, data.data(), &pos)))
    return absl::InvalidArgumentError("recording chunk is corrupt (lz4 frame header)");
  RETURN_IF_ERROR(CheckRawSize(info.contentSize));
  std::string raw(info.contentSize, '\0');
  size_t produced = 0;
  while (true) {
    size_t out = raw.size() - produced, in = data.size() - pos;
    const size_t hint =
        LZ4F_decompress(dctx, raw.data() + produced, &out, data.data() + pos, &in, nullptr);
    if (LZ4F_isError(hint)) return absl::InvalidArgumentError("recording chunk is corrupt (lz4)");
    produced += out;
    pos += in;
    if (hint == 0) break;  // the frame is complete
    if (in == 0 && out == 0) {
      return absl::InvalidArgumentError(
          pos == data.size() ? "recording chunk is cut short (lz4)"
                             : "recording chunk holds more than its lz4 frame declares");
    }
  }
  if (pos != data.size()) return absl::InvalidArgumentError("recording chunk is not exactly one lz4 frame");
  if (produced != raw.size()) return absl::InvalidArgumentError("recording chunk is corrupt (lz4 size)");
  return raw;
}

absl::StatusOr<std::string> Lz4Frame(std::string_view data) {
  // One context per thread, reused: it keeps its block buffer (sized for the frame's 4 MiB block
  // limit), which a fresh context would allocate for every chunk.
  using Dctx = std::unique_ptr<LZ4F_dctx, size_t (*)(LZ4F_dctx*)>;
  auto fresh = [] {
    LZ4F_dctx* d = nullptr;
    return Dctx(LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)) ? nullptr : d,
                LZ4F_freeDecompressionContext);
  };
  thread_local Dctx dctx = fresh();
  if (!dctx) dctx = fresh();
  if (!dctx) return absl::ResourceExhaustedError("lz4: no memory for a decompression context");
  auto raw = Lz4FrameWith(dctx.get(), data);
  // A context left mid-frame by a refused chunk is replaced, not reset: liblz4 1.9.4's reset keeps
  // the failed frame's remaining size, and the next frame that declares none (an empty chunk)
  // would be refused because of it.
  if (!raw.ok()) dctx = fresh();
  return raw;
}

// One zstd frame that declares its size: how chunks were packed before LZ4.
absl::StatusOr<std::string> ZstdFrame(std::string_view data) {
  size_t frame = ZSTD_findFrameCompressedSize(data.data(), data.size());
  if (ZSTD_isError(frame) || frame != data.size())
    return absl::InvalidArgumentError("recording chunk is not exactly one zstd frame");
  unsigned long long size = ZSTD_getFrameContentSize(data.data(), data.size());
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR)
    return absl::InvalidArgumentError("recording chunk does not declare its size");
  RETURN_IF_ERROR(CheckRawSize(size));
  std::string raw(size, '\0');
  size_t n = ZSTD_decompress(raw.data(), raw.size(), data.data(), data.size());
  if (ZSTD_isError(n) || n != size)
    return absl::InvalidArgumentError("recording chunk is corrupt (zstd)");
  return raw;
}

}  // namespace

absl::StatusOr<std::string> CompressEvents(const v1::RecordingEvents& events,
                                           ChunkPacking packing) {
  // The serialised events and the compressed frame go through buffers kept per thread: a
  // chunk's worth of fresh, zeroed memory each time would cost about as much again.
  thread_local std::unique_ptr<char[]> raw_buf, out_buf;
  thread_local size_t raw_cap = 0, out_cap = 0;
  const size_t raw_size = events.ByteSizeLong();
  // The controller would refuse it: a chunk is cut long before (RecordingSpool).
  if (raw_size > kMaxChunkRaw) {
    return absl::InvalidArgumentError(
        StrCat("recording chunk of ", raw_size, " bytes exceeds ", kMaxChunkRaw));
  }
  if (raw_size > raw_cap) {
    raw_buf.reset(new char[raw_size]);
    raw_cap = raw_size;
  }
  if (!events.SerializeToArray(raw_buf.get(), static_cast<int>(raw_size)))
    return absl::InternalError("cannot serialise events");
  const std::string_view raw(raw_buf.get(), raw_size);
  // LZ4: the recorder compresses a whole terminal flood as it happens, on the host's cores, and
  // LZ4 costs a quarter less CPU than zstd's fastest level there (bench/recording_bench).
  // One context per thread, reused: a fresh one per chunk costs more than a small chunk's data.
  thread_local std::unique_ptr<LZ4F_cctx, size_t (*)(LZ4F_cctx*)> cctx(
      [] {
        LZ4F_cctx* c = nullptr;
        return LZ4F_isError(LZ4F_createCompressionContext(&c, LZ4F_VERSION)) ? nullptr : c;
      }(),
      LZ4F_freeCompressionContext);
  if (!cctx) return absl::ResourceExhaustedError("lz4: no memory for a compression context");
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.contentSize = raw.size();
  prefs.frameInfo.blockSizeID = LZ4F_max4MB;  // a chunk (at most kMaxChunkRaw) is one block
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.autoFlush = 1;  // compressed straight from `raw`, not copied into the context first
  const size_t bound = LZ4F_compressFrameBound(raw.size(), &prefs);
  if (bound > out_cap) {
    out_buf.reset(new char[bound]);
    out_cap = bound;
  }
  char* out = out_buf.get();
  size_t n = 0;
  // Header, the chunk (one block), end mark: each step appends at n, or fails.
  auto append = [&](size_t written) {
    if (LZ4F_isError(written)) return false;
    n += written;
    return true;
  };
  if (!append(LZ4F_compressBegin(cctx.get(), out, bound, &prefs)) ||
      !append(packing == ChunkPacking::kStored
                  ? LZ4F_uncompressedUpdate(cctx.get(), out + n, bound - n, raw.data(), raw.size(),
                                            nullptr)
                  : LZ4F_compressUpdate(cctx.get(), out + n, bound - n, raw.data(), raw.size(),
                                        nullptr)) ||
      !append(LZ4F_compressEnd(cctx.get(), out + n, bound - n, nullptr))) {
    return absl::InternalError("lz4: cannot compress a recording chunk");
  }
  return std::string(out, n);
}

absl::StatusOr<std::string> PackForStorage(std::string_view raw) {
  RETURN_IF_ERROR(CheckRawSize(raw.size()));
  // Level 1: most of what higher levels gain on terminal text, at several times their speed. The
  // frame declares its size (ZSTD_compress writes it), as DecompressEvents requires.
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 1);
  if (ZSTD_isError(n)) return absl::InternalError(StrCat("zstd: ", ZSTD_getErrorName(n)));
  out.resize(n);
  return out;
}

absl::StatusOr<UnpackedEvents> UnpackEvents(std::string_view data) {
  if (data.size() > kMaxChunkCompressed)
    return absl::InvalidArgumentError(
        StrCat("recording chunk of ", data.size(), " bytes exceeds ", kMaxChunkCompressed));
  if (data.size() < 4) return absl::InvalidArgumentError("recording chunk is cut short");
  absl::StatusOr<std::string> raw;
  switch (LittleEndian32(data)) {
    case kLz4FrameMagic:
      raw = Lz4Frame(data);
      break;
    case kZstdFrameMagic:
      raw = ZstdFrame(data);
      break;
    default:
      return absl::InvalidArgumentError("recording chunk is neither an lz4 nor a zstd frame");
  }
  if (!raw.ok()) return raw.status();
  UnpackedEvents out;
  if (!out.events.ParseFromString(*raw))
    return absl::InvalidArgumentError("recording chunk does not hold recording events");
  out.raw = *std::move(raw);
  return out;
}

absl::StatusOr<v1::RecordingEvents> DecompressEvents(std::string_view data) {
  ASSIGN_OR_RETURN(UnpackedEvents unpacked, UnpackEvents(data));
  return std::move(unpacked.events);
}

}  // namespace warden
