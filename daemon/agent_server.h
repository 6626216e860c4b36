// The local socket (/run/warden/agent.sock): one thread, poll(2) over the listening socket and
// every connection. Framing per agent.proto: 4-byte big-endian length, at most 64 KiB, then one
// AgentRequest. A request must arrive whole within kRequestDeadlineMs of its first byte, and an
// idle connection without a session is closed after the same time; a connection that opened a
// session stays until the client closes it (the session's end).
//
// Any local user can connect, so no peer can starve or stall the others:
//  - the loop never blocks on a peer: replies go to a per-connection buffer written as the
//    socket drains; a peer with an unsent reply is not read from, and one whose reply is still
//    unsent at its deadline is closed;
//  - connections are capped: kMaxConnections in all; peers other than root and sshd's
//    principals user (whose every call is refused anyway) at most kMaxPerUnprivilegedUid each
//    and kMaxUnprivileged together, with a shorter deadline; a connection over a cap is closed
//    at once;
//  - each round serves root's and the principals user's connections before the others.
#pragma once

#include "common/service_watchdog.h"

#include <atomic>
#include <string>

#include "common/status.h"
#include "daemon/host_agent.h"

namespace warden {

inline constexpr size_t kMaxAgentMessage = 64 * 1024;
inline constexpr int kRequestDeadlineMs = 5000;
inline constexpr int kUnprivilegedDeadlineMs = 1000;
inline constexpr size_t kMaxConnections = 4096;
inline constexpr size_t kMaxUnprivileged = 64;
inline constexpr size_t kMaxPerUnprivilegedUid = 4;

struct AgentConnection;

class AgentServer {
 public:
  explicit AgentServer(HostAgent& agent) : agent_(agent) {}
  ~AgentServer();
  // Binds the socket (mode 0666: callers are told apart by SO_PEERCRED, not file modes).
  absl::Status Listen(const std::string& path);
  // `beat` (may be null) is beaten on every turn of the loop (service_watchdog.h).
  void Run(const std::atomic<bool>& stop, Heartbeat* beat = nullptr);

 private:
  // Reads from / writes to one connection as `revents` allow, answering a whole request. False
  // if the connection must be closed.
  bool Serve(int fd, AgentConnection& c, short revents, int64_t now);

  HostAgent& agent_;
  int listen_fd_ = -1;
  std::string path_;
};

}  // namespace warden
