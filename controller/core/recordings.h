// The recordings store: chunks from hosts are checked, hash-chained and made durable before they
// are acknowledged; a session's final chunk seals its chain with a signature by the audit key.
// Operators in the policy's recording viewer groups (admins by default) list, read and verify.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "controller/core/audit_log.h"
#include "controller/core/clock.h"
#include "controller/core/identity.h"
#include "controller/core/policy.h"
#include "controller/keys/keystore.h"
#include "controller/store/store.h"
#include "warden/v1/recording.pb.h"

namespace warden {

struct VerifyResult {
  bool ok = false;
  std::string message;
  uint64_t chunks = 0;
  bool sealed = false;
};

class RecordingArchive {
 public:
  RecordingArchive(const Policy& policy, Store& store, KeyStore& keys, AuditLog& audit,
                   std::string seal_key_label)
      : policy_(policy), store_(store), keys_(keys), audit_(audit),
        seal_key_label_(std::move(seal_key_label)) {}

  // A chunk from host `host`. Returns the sequence number to acknowledge: the chunk's own once it
  // is durable, or the same number again for a chunk already held (a resend after a reconnect).
  // A chunk out of order, of another host's session, or not decodable is refused with a reason.
  absl::StatusOr<uint64_t> Accept(const Identity& host, const v1::RecordingChunk& chunk);

  absl::StatusOr<std::vector<RecordingRow>> List(const Identity& who, const RecordingFilter& f);
  absl::StatusOr<RecordingRow> Get(const Identity& who, std::string_view session_id);
  // Every chunk of the session, in order, each with its stored chain value.
  absl::Status Read(const Identity& who, std::string_view session_id,
                    const std::function<absl::Status(const RecordingChunkRow&)>& fn);
  absl::StatusOr<VerifyResult> Verify(const Identity& who, std::string_view session_id);

  // Live viewing: `fn` sees every chunk of the session as soon as it is durable (the final one
  // included), called with the archive's lock held: it must only queue. Returns an id for Unwatch;
  // no call is running or will be made once Unwatch returns.
  using ChunkWatcher = std::function<void(const v1::RecordingChunk&)>;
  absl::StatusOr<uint64_t> Watch(const Identity& who, std::string_view session_id, ChunkWatcher fn);
  void Unwatch(uint64_t id);

 private:
  absl::Status CheckViewer(const Identity& who) const;

  const Policy& policy_;
  Store& store_;
  KeyStore& keys_;
  AuditLog& audit_;
  const std::string seal_key_label_;
  std::mutex mu_;  // serialises Accept: one writer per session's chain; guards watchers_
  struct Watcher {
    std::string session_id;
    ChunkWatcher fn;
  };
  std::map<uint64_t, Watcher> watchers_;
  uint64_t next_watcher_ = 1;
};

}  // namespace warden
