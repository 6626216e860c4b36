#include "tests/daemon/agent_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/strings.h"

namespace warden {
namespace {

// Reads or writes exactly `n` bytes before `deadline` (steady clock, ms).
bool Transfer(int fd, char* buf, size_t n, bool writing, int64_t deadline) {
  size_t off = 0;
  while (off < n) {
    const int64_t left = deadline - std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count();
    if (left <= 0) return false;
    pollfd p{fd, static_cast<short>(writing ? POLLOUT : POLLIN), 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    ssize_t r = writing ? send(fd, buf + off, n - off, MSG_NOSIGNAL) : recv(fd, buf + off, n - off, 0);
    if (r == 0) return false;
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    off += static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

absl::StatusOr<v1::AgentResponse> CallAgent(const std::string& socket_path,
                                            const v1::AgentRequest& req, int timeout_ms) {
  const int64_t deadline = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count() +
                           timeout_ms;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) return absl::InvalidArgumentError("socket path too long");
  memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    if (fd >= 0) close(fd);
    return absl::UnavailableError(StrCat("wardend is not reachable at ", socket_path, ": ", strerror(e)));
  }
  std::string body = req.SerializeAsString();
  std::string frame = {static_cast<char>(body.size() >> 24), static_cast<char>(body.size() >> 16),
                       static_cast<char>(body.size() >> 8), static_cast<char>(body.size())};
  frame += body;
  char len[4];
  bool ok = Transfer(fd, frame.data(), frame.size(), true, deadline) &&
            Transfer(fd, len, 4, false, deadline);
  std::string in;
  if (ok) {
    const uint32_t n = (static_cast<uint32_t>(static_cast<uint8_t>(len[0])) << 24) |
                       (static_cast<uint32_t>(static_cast<uint8_t>(len[1])) << 16) |
                       (static_cast<uint32_t>(static_cast<uint8_t>(len[2])) << 8) |
                       static_cast<uint8_t>(len[3]);
    ok = n <= 64 * 1024;
    in.resize(n);
    ok = ok && Transfer(fd, in.data(), n, false, deadline);
  }
  close(fd);
  v1::AgentResponse resp;
  if (!ok || !resp.ParseFromString(in)) {
    return absl::DeadlineExceededError("wardend did not answer in time");
  }
  return resp;
}

}  // namespace warden
