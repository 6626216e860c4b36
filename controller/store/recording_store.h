// Session recordings: their chunks, the commands run and the alerts raised in them, and seals.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/store/transaction.h"
#include "controller/store/types.h"

namespace warden {

class RecordingStore : public virtual TransactionalStore {
 public:
  virtual absl::Status InsertRecording(const RecordingRow& r) = 0;
  virtual absl::StatusOr<std::optional<RecordingRow>> GetRecording(std::string_view session_id) = 0;
  // Stores chunk `c` as the next of `session_id` with the commands it ran and the alerts raised
  // in it, and moves the recording's head. Opens its own transaction.
  virtual absl::Status AppendRecordingChunk(std::string_view session_id, const RecordingChunkRow& c,
                                            const std::vector<std::string>& commands,
                                            const std::vector<RecordingAlert>& alerts) = 0;
  virtual absl::Status SealRecording(std::string_view session_id, int64_t ended_ns,
                                     uint64_t lost_bytes, ByteSpan seal) = 0;
  // Oldest first.
  virtual absl::StatusOr<std::vector<RecordingRow>> ListRecordings(const RecordingFilter& f) = 0;
  // Sessions started at or after `since_ns`, per host that recorded them.
  virtual absl::StatusOr<std::vector<HostSessionCount>> CountRecordingsByHost(int64_t since_ns) = 0;
  // Calls `fn` for every chunk of a session in order; stops at the first error it returns. Reads
  // in pages, so other calls are not held up while `fn` runs (it may write to a network stream);
  // not a snapshot unless called inside a transaction.
  virtual absl::Status ForEachRecordingChunk(
      std::string_view session_id,
      const std::function<absl::Status(const RecordingChunkRow&)>& fn) = 0;
};

}  // namespace warden
