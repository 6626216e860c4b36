// The calls the PAM module and sshd's AuthorizedPrincipalsCommand make on the local socket, and
// the agent's replies, as HostAgent takes and returns them. On the socket they travel as
// AgentRequest / AgentResponse (proto/warden/v1/agent.proto), read and written by
// daemon/agent_server.cc through daemon/proto_convert.h.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace warden {

// pam_sm_acct_mgmt: may `user` log in now?
struct AccountCheck {
  std::string user, service, rhost;
};

// pam_sm_open_session. `pid` is the session's process as PAM sees it (0: the caller's).
struct SessionOpen {
  std::string user, service, tty, rhost;
  int32_t pid = 0;
};

// pam_sm_close_session of the session the same connection opened.
struct SessionClose {
  std::string session_id;
};

// AuthorizedPrincipalsCommand: the principals `user` may log in with.
struct PrincipalsQuery {
  std::string user;
};

// std::monostate: an empty or unknown request (refused).
using AgentCall =
    std::variant<std::monostate, AccountCheck, SessionOpen, SessionClose, PrincipalsQuery>;

enum class AgentVerdict {
  kUnspecified,
  kAllow,       // a Warden account with a valid lease on this host
  kDeny,        // a Warden account that may not log in now; `message` says why
  kNotManaged,  // not a Warden account: the PAM module returns PAM_IGNORE
  kHold,        // the session waits for moderators; a second reply follows
};

struct AgentReply {
  AgentVerdict verdict = AgentVerdict::kUnspecified;
  std::string message;
  std::string session_id;
  std::vector<std::string> principals;
};

}  // namespace warden
