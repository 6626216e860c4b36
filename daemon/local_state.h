// What this host holds, and the rules that turn the controller's HostState into files: the NSS
// cache, the sudoers drop-in, TrustedUserCAKeys and the KRL. Persisted in state_dir/state.json
// so that a restart forgets nothing and leases end on time with the controller unreachable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "daemon/config.h"
#include "daemon/host_state.h"

namespace warden {

// What happens to a session with more redacted lines than its role allows (the role's
// recording.on_redaction_limit): it is flagged in every case; kHold also pauses it until a
// moderator watches (HostAgent::HoldForModerator), kEnd ends it.
enum class OnRedactionLimit { kAlert, kHold, kEnd };
// "alert", "hold", "end"; nullopt for any other word.
std::optional<OnRedactionLimit> ParseOnRedactionLimit(std::string_view word);
const char* OnRedactionLimitName(OnRedactionLimit action);

struct LocalAccount {
  std::string login, gecos, home, shell, sudo_rule, grant_id, user;
  std::string recording_input = "redact";  // redact, full (or all), off
  bool recording_strict = false;  // no session unless it can be delivered to the controller
  // Lines typed without echo (redacted) beyond this flag the session, then on_redaction_limit.
  uint32_t max_redacted_lines = 3;
  OnRedactionLimit on_redaction_limit = OnRedactionLimit::kAlert;
  // Four-eyes (HostAccount.moderators_required): 0 = none.
  uint32_t moderators_required = 0;
  bool moderator_pause = false;   // on_leave: pause (else terminate)
  int64_t moderator_wait = 0;  // seconds; also how long a session held at the redaction limit waits
  uint32_t uid = 0, gid = 0;
  int64_t expires = 0;
  std::vector<std::string> groups;
};

struct LocalGroup {
  std::string name;
  uint32_t gid = 0;
  std::vector<std::string> members;
};

// An account that has left the host (or is leaving): cleanup and the report to the controller
// are retried until done, across restarts.
struct EndedAccount {
  LocalAccount account;
  std::string reason;  // expired, revoked
  int64_t ended = 0;
  bool cleaned = false;
  int processes_killed = 0;
  bool home_removed = false;
  bool reported = false;
  // While a lease end is incomplete ("ending"): the failed attempts so far, when the next one is
  // due (wall clock, s), the last error, and whether that error still has to reach the
  // controller as an alert. Kept in memory only: after a restart wardend simply tries again.
  int attempts = 0;
  int64_t next_attempt = 0;
  std::string error;
  bool alert_pending = false;
};

struct LocalState {
  int64_t revision = 0;    // of the last HostState applied
  uint64_t generation = 0; // of the NSS cache, bumped on every write
  std::vector<LocalAccount> accounts;
  std::vector<LocalGroup> groups;
  std::vector<EndedAccount> ended;

  const LocalAccount* FindAccount(std::string_view login) const;
  const EndedAccount* FindEnded(std::string_view login) const;
  // The earliest lease end among live accounts (nullopt: none).
  std::optional<int64_t> NextExpiry() const;
};

absl::StatusOr<LocalState> LoadLocalState(const HostConfig& c);
absl::Status SaveLocalState(const HostConfig& c, const LocalState& s);

// Takes in a HostState from the controller: accounts that vanished from it were revoked and
// move to `ended` (reason "revoked"); the controller's trusted CA keys and KRL are stored
// (WriteControllerTrust; RefreshSshdTrustFiles puts them in force). Validates first: a malformed
// state changes nothing.
absl::Status ApplyHostState(const HostConfig& c, const HostState& in, int64_t now,
                            LocalState& s);

// Moves accounts whose lease has ended at `now` to `ended` (reason "expired"). Returns how many.
int ExpireAccounts(LocalState& s, int64_t now);

// Writes the NSS cache (as generation s.generation: the caller bumps it for every new image), the
// principals files and the sudoers drop-in for the live accounts. The sudoers file is checked
// with visudo before it replaces the old one.
absl::Status WriteAccountFiles(const HostConfig& c, const LocalState& s, int64_t now);

// sshd's AuthorizedPrincipalsFile for Warden's accounts (configure-host points it at
// PrincipalsDir(c)/%u): one file per live account, named after its login and listing it, the
// only principal the controller puts in that account's certificates; every other file in the
// directory (an ended or revoked account's, one left by a crash) is removed. sshd reads these
// instead of running warden-principals, which costs a fork and an exec per certificate offered.
std::string PrincipalsDir(const HostConfig& c);
absl::Status SyncPrincipalFiles(const HostConfig& c, const std::vector<std::string>& live_logins);

// Text of the sudoers drop-in for `accounts`.
std::string SudoersText(const std::vector<LocalAccount>& accounts);

}  // namespace warden
