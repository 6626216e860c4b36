#include "common/recording_chain.h"

#include "common/crypto.h"
#include "common/strings.h"

namespace warden {

Bytes ChainStart(std::string_view session_id) {
  return Sha256(AsBytes(StrCat("warden-recording-v1", session_id)));
}

Bytes ChainNext(ByteSpan prev, uint64_t seq, std::string_view events_zstd) {
  Bytes m(prev.begin(), prev.end());
  for (int i = 7; i >= 0; --i) m.push_back(static_cast<uint8_t>(seq >> (8 * i)));
  m.insert(m.end(), events_zstd.begin(), events_zstd.end());
  return Sha256(m);
}

std::string SealMessage(std::string_view session_id, uint64_t chunks, ByteSpan last_hash,
                        int64_t ended_unix_ns, uint64_t lost_bytes) {
  return StrCat("warden-recording-seal-v1\n", session_id, "\n", chunks, "\n", HexEncode(last_hash),
                "\n", ended_unix_ns, "\n", lost_bytes, "\n");
}

}  // namespace warden
