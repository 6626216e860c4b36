// The recordings store: chunks from hosts are checked, hash-chained and made durable before they
// are acknowledged; a session's final chunk seals its chain with a signature by the audit key.
// Operators in the policy's recording viewer groups (admins by default) list, read and verify.
//
// Live sessions can be moderated: a moderator watches the live stream and may end the session.
// Where the session's role has `require_moderator`, only members of its moderator groups
// moderate, they may watch the live session without being recording viewers, and the host holds
// the session (at its start, and per on_leave later) while fewer of them than the role's count
// watch. Where the role has `recording.on_redaction_limit: hold` instead, a session flagged
// `redaction_limit` is held by its host until one moderator watches: members of the role's
// approval groups (Role::HoldModeratorGroups) may then watch and moderate it, and only they count;
// recording viewers still watch and end it, as any other session. Nobody moderates the session of
// their own grant. Moderator counts (of those who count) and terminations reach the session's
// host over its upload stream (AttachHost).
//
// The archive sees recordings as the domain types below: the adapter that receives an upload
// decodes its payload (common/recording.h), and the archive chains and stores the compressed
// bytes as they came (common/recording_chain.h).
#pragma once

#include <array>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/core/audit_log.h"
#include "controller/core/detection.h"
#include "controller/core/clock.h"
#include "controller/core/identity.h"
#include "controller/core/policy.h"
#include "controller/keys/keystore.h"
#include "controller/store/access_store.h"
#include "controller/store/host_store.h"
#include "controller/store/recording_store.h"

namespace warden {

// A session as its host describes it in the session's first chunk.
struct SessionStart {
  std::string user, service, tty, rhost;
  int64_t started_ns = 0;
  std::string grant_id;  // the grant whose ephemeral account logged in
};

// One chunk of a session's recording, as its host uploads it. `commands` and `alerts` are what
// the archive indexes of the chunk's events, decoded from `events_zstd` by whoever received it.
struct RecordingChunk {
  std::string session_id;
  uint64_t seq = 0;  // 1, 2, 3, ... per session
  std::string events_zstd;
  std::optional<SessionStart> session;  // on seq 1
  bool final = false;                   // the session ended; no chunk follows
  int64_t ended_ns = 0;                 // on the final chunk
  uint64_t lost_bytes = 0;              // on the final chunk: the session's total
  std::vector<std::string> commands;    // every program the events ran, as its command line
  std::vector<int64_t> command_offsets_ns;  // when each of `commands` ran, into the session
  std::vector<std::string> command_files;   // the file each of `commands` executed
  std::vector<RecordingAlert> alerts;   // raised by the host in these events
};

// What a host hears about one of its live sessions.
struct SessionControl {
  std::string session_id;
  uint32_t moderators = 0;    // watching now, of those who count toward its quorum
  std::string terminated_by;  // set: this moderator ended the session
  std::string reason;
};

struct VerifyResult {
  bool ok = false;
  std::string message;
  uint64_t chunks = 0;
  bool sealed = false;
};

class RecordingArchive {
 public:
  // `hosts` and `grants` are read to check that an uploading host is one the session's grant
  // targets, and who may moderate.
  RecordingArchive(const Policy& policy, RecordingStore& store, HostStore& hosts,
                   AccessStore& grants, KeyStore& keys, AuditLog& audit, std::string seal_key_label)
      : policy_(policy), store_(store), host_store_(hosts), grants_(grants), keys_(keys),
        audit_(audit),
        seal_key_label_(std::move(seal_key_label)) {}

  // A chunk from host `host`. Returns the sequence number to acknowledge: the chunk's own once it
  // is durable, or the same number again for a chunk already held (a resend after a reconnect).
  // A chunk out of order, of another host's session, or not decodable is refused with a reason,
  // and so is a session whose grant does not target this host or whose account is not the
  // grant's. A resent final chunk seals the recording if its first delivery did not.
  absl::StatusOr<uint64_t> Accept(const Identity& host, const RecordingChunk& chunk);
  // The programs sessions run go past `detector`'s command_watch rules (nullptr: none).
  // REQUIRES: called before the first Accept; `detector` outlives the archive.
  void SetDetector(Detector* detector) { detector_ = detector; }

  absl::StatusOr<std::vector<RecordingRow>> List(const Identity& who, const RecordingFilter& f);
  absl::StatusOr<RecordingRow> Get(const Identity& who, std::string_view session_id);
  // Every chunk of the session, in order, each with its stored chain value.
  absl::Status Read(const Identity& who, std::string_view session_id,
                    const std::function<absl::Status(const RecordingChunkRow&)>& fn);
  absl::StatusOr<VerifyResult> Verify(const Identity& who, std::string_view session_id);

  // Live viewing: `fn` sees every chunk of the session as soon as it is durable (the final one
  // included), with the chain value after it, called with the archive's lock held: it must only
  // queue. Returns an id for Unwatch; no call is running or will be made once Unwatch returns.
  using ChunkWatcher = std::function<void(const RecordingChunk&, const Bytes& chain_hash)>;
  absl::StatusOr<uint64_t> Watch(const Identity& who, std::string_view session_id, ChunkWatcher fn);
  void Unwatch(uint64_t id);

  // A session played back: its stored chunks, and when following it live, the subscription
  // that feeds `live` every chunk stored since (Unwatch it when done) and, for a moderator, the
  // ticket that counts them as watching (LeaveModerator when done).
  struct Playback {
    RecordingRow rec;
    std::vector<RecordingChunkRow> chunks;
    uint64_t watch = 0;      // 0: not following
    uint64_t moderator = 0;  // 0: an observer
  };
  // A moderator moderates a live session, so follows it; who may read it may also follow it.
  // On an error nothing is left subscribed or joined.
  absl::StatusOr<Playback> Play(const Identity& who, std::string_view session_id, bool follow,
                                bool moderate, ChunkWatcher live);

  // --- Moderation of live sessions ---
  struct Quorum {
    // The role's require_moderator count; 1 for a session held at its redaction limit; 0 = none.
    int required = 0;
    int present = 0;  // distinct moderators watching now who count toward it
  };
  Quorum QuorumOf(const RecordingRow& rec);
  // `who` moderates the live session until LeaveModerator(ticket): counted toward its quorum.
  absl::StatusOr<uint64_t> JoinModerator(const Identity& who, std::string_view session_id);
  void LeaveModerator(uint64_t ticket);
  // A moderator ends the live session: its host is told now, or when it next connects.
  absl::Status Terminate(const Identity& who, std::string_view session_id, std::string_view reason);
  // The controller ends a live session of `host_id` itself (a brokered session whose grant was
  // revoked): its host is told now, or when it next connects, as for Terminate.
  void EndLiveSession(const std::string& host_id, const std::string& session_id,
                      std::string_view by, std::string_view reason);
  // A host's upload stream: `fn` receives control messages for the host's sessions, called with
  // the archive's lock held (it must only queue); at once, the state of every session of that
  // host with moderators or a pending termination. No call is running or will be made once
  // DetachHost returns.
  using ControlSink = std::function<void(const SessionControl&)>;
  uint64_t AttachHost(const std::string& host_id, ControlSink fn);
  void DetachHost(uint64_t id);

 private:
  // The first chunk of a session: the grant it names exists, is the account's, and its role
  // selects this host (tier and labels).
  absl::Status CheckSessionGrant(const Identity& host, std::string_view session_id,
                                 const SessionStart& s);
  // REQUIRES: the session's chain lock held. Signs and stores the seal of the recording whose
  // final chunk `c` left the chain at `head`.
  absl::Status Seal(const Identity& host, const RecordingChunk& c, const Bytes& head);
  // REQUIRES: the session's chain lock held. Hands the stored chunk `c` (chain value `hash`) to
  // the session's watchers.
  void Notify(const RecordingChunk& c, const Bytes& hash);
  // Whether `who` may moderate any session at all (a recording viewer, or in a moderator group).
  absl::Status CheckMayModerate(const Identity& who) const;
  // Viewers may read any recording; a live four-eyes session may also be read by its moderators.
  absl::Status CheckViewer(const Identity& who) const;
  absl::Status CheckReader(const Identity& who, const RecordingRow& rec);
  // What `who` is to the live session `rec` as a moderator.
  struct ModeratorRight {
    int required = 0;    // as Quorum::required
    bool counts = true;  // toward `required` (a recording viewer of a held session does not)
  };
  // Whether `who` may moderate the live session `rec`, and how.
  absl::StatusOr<ModeratorRight> CheckModerator(const Identity& who, const RecordingRow& rec);
  // The moderators a session of `role` needs now (Quorum::required).
  static int Required(const Role& role, const RecordingRow& rec);
  // The live session `session_id`, if `who` may moderate it; how, in `right` (may be null).
  absl::StatusOr<RecordingRow> LiveSession(const Identity& who, std::string_view session_id,
                                           ModeratorRight* right = nullptr);
  // REQUIRES: mu_ held.
  int PresentLocked(const std::string& session_id) const;
  void SendLocked(const std::string& host_id, const SessionControl& msg);

  const Policy& policy_;
  RecordingStore& store_;
  HostStore& host_store_;
  AccessStore& grants_;
  KeyStore& keys_;
  AuditLog& audit_;
  Detector* detector_ = nullptr;
  const std::string seal_key_label_;
  // Accept holds the lock of the session's chain (a session id hashes to one of these) while it
  // decompresses, stores and signs; mu_ guards the maps below and is held only briefly.
  // Lock order: a chain lock, then mu_.
  static constexpr size_t kChainLocks = 64;
  std::array<std::mutex, kChainLocks> chain_mu_;
  std::mutex mu_;
  struct Watcher {
    std::string session_id;
    ChunkWatcher fn;
  };
  std::map<uint64_t, Watcher> watchers_;
  uint64_t next_watcher_ = 1;
  struct Moderator {
    std::string session_id, host_id, user;
    bool counts = true;
  };
  std::map<uint64_t, Moderator> moderators_;  // by ticket
  struct Termination {
    std::string host_id;
    SessionControl msg;
  };
  std::map<std::string, Termination> terminations_;  // by session, until its final chunk
  struct HostSink {
    std::string host_id;
    ControlSink fn;
  };
  std::map<uint64_t, HostSink> hosts_;
};

}  // namespace warden
