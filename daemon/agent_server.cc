#include "daemon/agent_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <vector>

#include "common/strings.h"
#include "daemon/log.h"

namespace warden {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Conn {
  ucred peer{};
  std::string in;
  int64_t deadline = 0;  // 0 = none (a session is open)
  bool session = false;
};

bool SendFrame(int fd, const std::string& body) {
  std::string frame(4, '\0');
  const uint32_t n = static_cast<uint32_t>(body.size());
  frame[0] = static_cast<char>(n >> 24);
  frame[1] = static_cast<char>(n >> 16);
  frame[2] = static_cast<char>(n >> 8);
  frame[3] = static_cast<char>(n);
  frame += body;
  size_t off = 0;
  const int64_t deadline = NowMs() + kRequestDeadlineMs;
  while (off < frame.size()) {
    ssize_t w = send(fd, frame.data() + off, frame.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      off += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && (errno == EAGAIN || errno == EINTR) && NowMs() < deadline) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 100);
      continue;
    }
    return false;
  }
  return true;
}

}  // namespace

AgentServer::~AgentServer() {
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(path_.c_str());
  }
}

absl::Status AgentServer::Listen(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(StrCat("agent socket path too long: ", path));
  }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) mkdir(path.substr(0, slash).c_str(), 0755);
  unlink(path.c_str());
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      chmod(path.c_str(), 0666) != 0 || listen(listen_fd_, 128) != 0) {
    return absl::UnavailableError(StrCat("cannot listen on ", path, ": ", strerror(errno)));
  }
  path_ = path;
  return absl::OkStatus();
}

void AgentServer::Run(const std::atomic<bool>& stop) {
  std::map<int, Conn> conns;
  auto drop = [&](int fd) {
    if (conns[fd].session) agent_.ConnectionClosed(fd);
    close(fd);
    conns.erase(fd);
  };
  while (!stop) {
    std::vector<pollfd> fds;
    fds.push_back({listen_fd_, POLLIN, 0});
    fds.push_back({agent_.notify_fd(), POLLIN, 0});
    for (const auto& [fd, c] : conns) fds.push_back({fd, POLLIN, 0});
    const int n = poll(fds.data(), fds.size(), 200);
    if (n < 0 && errno != EINTR) {
      LogLine(LOG_ERR, StrCat("agent socket poll: ", strerror(errno)));
      return;
    }
    const int64_t now = NowMs();
    // Replies to sessions that were held for moderators (before any descriptor is reused).
    for (auto& [fd, resp] : agent_.TakeReplies()) {
      if (conns.count(fd) && !SendFrame(fd, resp.SerializeAsString())) drop(fd);
    }
    if (fds[0].revents & POLLIN) {
      while (true) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;
        Conn c;
        socklen_t len = sizeof c.peer;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c.peer, &len) != 0) {
          close(fd);
          continue;
        }
        c.deadline = now + kRequestDeadlineMs;
        conns.emplace(fd, std::move(c));
      }
    }
    for (size_t i = 2; i < fds.size(); i++) {
      const int fd = fds[i].fd;
      if (!conns.count(fd)) continue;  // dropped above
      Conn& c = conns[fd];
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[4096];
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          drop(fd);
          continue;
        }
        if (r > 0) {
          if (c.in.empty() && c.session) c.deadline = now + kRequestDeadlineMs;
          c.in.append(buf, static_cast<size_t>(r));
        }
        bool bad = false;
        while (c.in.size() >= 4) {
          const uint32_t len = (static_cast<uint32_t>(static_cast<uint8_t>(c.in[0])) << 24) |
                               (static_cast<uint32_t>(static_cast<uint8_t>(c.in[1])) << 16) |
                               (static_cast<uint32_t>(static_cast<uint8_t>(c.in[2])) << 8) |
                               static_cast<uint8_t>(c.in[3]);
          if (len > kMaxAgentMessage) {
            LogLine(LOG_WARNING, StrCat("agent socket: pid ", c.peer.pid, " sent a ", len,
                                        "-byte message (limit ", kMaxAgentMessage, "); closed"));
            bad = true;
            break;
          }
          if (c.in.size() < 4 + len) break;
          v1::AgentRequest req;
          v1::AgentResponse resp;
          if (!req.ParseFromArray(c.in.data() + 4, static_cast<int>(len))) {
            resp.set_verdict(v1::AgentResponse::DENY);
            resp.set_message("Warden: malformed request");
            bad = true;
          } else {
            resp = agent_.Handle(req, c.peer, fd);
            if (req.has_session_open() && !resp.session_id().empty()) c.session = true;
          }
          c.in.erase(0, 4 + len);
          if (!SendFrame(fd, resp.SerializeAsString())) bad = true;
          if (bad) break;
          c.deadline = c.session ? 0 : now + kRequestDeadlineMs;
        }
        if (bad) {
          drop(fd);
          continue;
        }
      }
      if (c.deadline && now > c.deadline) {
        if (!c.in.empty()) {
          LogLine(LOG_WARNING, StrCat("agent socket: pid ", c.peer.pid,
                                      " did not finish its request in time; closed"));
        }
        drop(fd);
      }
    }
  }
  for (auto& [fd, c] : conns) {
    if (c.session) agent_.ConnectionClosed(fd);
    close(fd);
  }
}

}  // namespace warden
