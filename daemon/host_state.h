// What the controller says this host holds, as wardend's core takes it: the HostState of the
// watch stream (proto/warden/v1/host.proto) once daemon/proto_convert.cc has read it. Values are
// as the controller sent them, unchecked: ApplyHostState (local_state.h) validates every field
// before anything reaches a file, since a compromised or buggy controller is not trusted with
// uid 0 or a newline in sudoers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace warden {

// An ephemeral account granted on this host (HostAccount).
struct GrantedAccount {
  std::string login, gecos, shell;
  uint32_t uid = 0, gid = 0;  // gid: the primary group, same id and name as the account
  int64_t expires_unix = 0;   // the lease end
  std::vector<std::string> groups;
  std::string sudo_rule;  // e.g. "ALL=(ALL) NOPASSWD: ALL"; empty = none
  std::string grant_id;
  std::string user;  // the operator behind the grant
  // The role's recording policy, in the controller's words: input redact / full / all / off
  // (empty: redact); mode best_effort / strict (empty: best_effort).
  std::string recording_input, recording_mode;
  // Four-eyes: moderators required (0 = none), what happens when they leave ("terminate" or
  // "pause"), and how long a login or a paused or held session waits for them.
  uint32_t moderators_required = 0;
  std::string moderator_on_leave;
  int64_t moderator_wait_seconds = 0;
  std::optional<uint32_t> max_redacted_lines;  // absent: the default (3)
  std::string on_redaction_limit;              // alert, hold, end; empty: an older controller
};

// A supplementary group of ephemeral accounts (HostGroup).
struct GrantedGroup {
  std::string name;
  uint32_t gid = 0;
  std::vector<std::string> members;
};

struct HostState {
  int64_t revision = 0;
  std::vector<std::string> trusted_user_ca_keys;  // TrustedUserCAKeys lines
  std::string krl;                                // RevokedKeys, the binary KRL
  std::vector<GrantedAccount> accounts;
  std::vector<GrantedGroup> groups;
};

}  // namespace warden
