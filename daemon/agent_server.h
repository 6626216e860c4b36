// The local socket (/run/warden/agent.sock): one thread, poll(2) over the listening socket and
// every connection. Framing per agent.proto: 4-byte big-endian length, at most 64 KiB, then one
// AgentRequest. A request must arrive whole within kRequestDeadlineMs of its first byte, and an
// idle connection without a session is closed after the same time; a connection that opened a
// session stays until the client closes it (the session's end).
#pragma once

#include <atomic>
#include <string>

#include "common/status.h"
#include "daemon/host_agent.h"

namespace warden {

inline constexpr size_t kMaxAgentMessage = 64 * 1024;
inline constexpr int kRequestDeadlineMs = 5000;

class AgentServer {
 public:
  explicit AgentServer(HostAgent& agent) : agent_(agent) {}
  ~AgentServer();
  // Binds the socket (mode 0666: callers are told apart by SO_PEERCRED, not file modes).
  absl::Status Listen(const std::string& path);
  void Run(const std::atomic<bool>& stop);

 private:
  HostAgent& agent_;
  int listen_fd_ = -1;
  std::string path_;
};

}  // namespace warden
