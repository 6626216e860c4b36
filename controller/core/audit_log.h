// The controller's audit log writer: hash-chained JSON lines (see common/audit_chain.h), with
// secret fields replaced by HMAC-SHA256 under a key on the token (KeyStore::Mac), and signed
// checkpoints every `checkpoint_every` events and at Close().
//
// Fail closed: if a line cannot be written, Append returns UNAVAILABLE and the caller must
// refuse the request. A partially written line is cut off again so the file stays a valid chain.
// The file is reopened on the next Append, so the log heals once space or permissions return.
//
// Tail truncation: at every checkpoint the head of the log (the checkpoint line's seq and hash,
// signed by the audit key) is also written to the store, outside the file. Open refuses a log
// that no longer holds that line as it was (DATA_LOSS, and the controller does not start): cutting
// lines off the end is noticed up to the last checkpoint (Close() writes one). Lines written after
// the last checkpoint before a crash are not covered; offline verification reports them as an
// unsealed tail (see VerifyAuditLog).
//
// Durability: every line is write()n before Append returns (it survives a controller crash);
// fdatasync runs on a background thread at most `sync_interval_ms` after a write, and on Close().
#pragma once

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/audit_chain.h"
#include "controller/core/alert_sink.h"
#include "controller/core/clock.h"
#include "controller/core/identity.h"
#include "controller/core/policy.h"
#include "controller/keys/keystore.h"
#include "controller/store/audit_store.h"

namespace warden {

class AuditLog {
 public:
  struct Options {
    std::string path;
    std::string key_label;  // KeyStore label of the audit signing key
    std::string hmac_key_label;  // KeyStore label of the HMAC-SHA256 key for secret fields
    int checkpoint_every = 1000;
    int sync_interval_ms = 200;
  };
  // `store` keeps the anchor (the signed head as of the last checkpoint).
  AuditLog(Options options, KeyStore& keys, AuditStore& store, const Clock& clock);
  ~AuditLog();

  // Recovers seq and hash from the existing file (cutting off a torn final line). UNAVAILABLE
  // here is reported but not fatal: Append keeps retrying and refusing until the file is usable.
  // DATA_LOSS means the file is not the log the controller wrote (it is shorter than its anchor,
  // or the anchored line was changed): the controller must not start on it.
  absl::Status Open();
  // Events with "alert": true are also handed to `sink` once written (nullptr: none).
  // REQUIRES: called before the first Append; `sink` outlives the log.
  void SetAlertSink(AlertSink* sink) { alerts_ = sink; }
  // What followers hear of each line written.
  struct Written {
    uint64_t seq = 0;
    std::string event;     // its "event" (empty for an API call's intent and outcome)
    std::string call;      // an API call's, with its outcome's code
    std::string code;
    bool alert = false;
    std::string alert_name;  // an alert's rule, or its event
    std::string severity;
  };
  // `fn` is called after every line written (it must not block): how readers following the
  // file (SIEM sinks, detection rules) hear of it at once, and what metrics count.
  // REQUIRES: before the first Append.
  void AddFollower(std::function<void(const Written&)> fn) { followers_.push_back(std::move(fn)); }
  // Appends `event` (an object) with seq, ts and prev added; returns its seq.
  absl::StatusOr<uint64_t> Append(nlohmann::json event);
  // The seq of the last line written (0: none yet).
  uint64_t LastSeq();
  // Writes a signed checkpoint line.
  absl::Status Checkpoint();
  // Checkpoints and stops the sync thread.
  absl::Status Close();

  // "hmac-sha256:<hex>" of a secret value, for audit fields, computed by the KeyStore (the key
  // never leaves the token). If the token fails, "hmac-sha256:unavailable": the secret itself
  // never appears.
  std::string Redact(std::string_view secret) const;
  // The signed head of the log as it stands now.
  absl::StatusOr<AuditHead> SignedHead();
  // The log as it is on disk now, with the signed head as the controller knows it. Fails if the
  // file was replaced while the controller held it open.
  absl::StatusOr<std::pair<std::string, AuditHead>> Export();
  // What an export hands out: the log and its signed head as Export() reads them, and the
  // authorized_keys line of the key that signed the head.
  struct Exported {
    std::string text;
    AuditHead head;
    std::string public_key;
  };
  // Export() for `who`: the whole log is for the policy's admins only.
  absl::StatusOr<Exported> ExportFor(const Identity& who, const Policy& policy);

 private:
  absl::Status OpenLocked();
  // Checks that `text` (whole lines) still holds the anchored line as it was.
  absl::Status CheckAnchor(std::string_view text);
  absl::StatusOr<uint64_t> WriteLocked(nlohmann::json event);
  absl::Status CheckpointLocked();
  void SyncLoop();

  Options options_;
  KeyStore& keys_;
  AuditStore& store_;
  const Clock& clock_;
  std::mutex mu_;
  int fd_ = -1;
  off_t size_ = 0;
  uint64_t seq_ = 0;
  std::string last_hash_ = std::string(kGenesisHash);
  int since_checkpoint_ = 0;
  bool dirty_ = false;
  bool stopping_ = false;
  std::condition_variable cv_;
  std::thread sync_thread_;
  AlertSink* alerts_ = nullptr;
  std::vector<std::function<void(const Written&)>> followers_;
};

}  // namespace warden
