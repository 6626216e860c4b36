#include "daemon/agent_server.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <vector>

#include "common/strings.h"
#include "daemon/log.h"
#include "daemon/proto_convert.h"

namespace warden {

// One client of the socket.
struct AgentConnection {
  ucred peer{};
  bool privileged = false;  // root or the principals user
  std::string in, out;
  int64_t deadline = 0;  // 0 = none (a session is open and nothing is pending)
  bool session = false;
};

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Frame(const std::string& body) {
  std::string frame(4, '\0');
  const uint32_t n = static_cast<uint32_t>(body.size());
  frame[0] = static_cast<char>(n >> 24);
  frame[1] = static_cast<char>(n >> 16);
  frame[2] = static_cast<char>(n >> 8);
  frame[3] = static_cast<char>(n);
  return frame + body;
}

// Writes what the socket takes now. False if the peer is gone.
bool Flush(int fd, AgentConnection& c) {
  while (!c.out.empty()) {
    const ssize_t w = send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      c.out.erase(0, static_cast<size_t>(w));
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    return w < 0 && errno == EAGAIN;
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
  // Only root and the principals user have any call to make: the socket is theirs (0660, the
  // principals user's group), so other local users cannot even connect and fill its backlog.
  // Without that user it is root's alone.
  const passwd* principals = getpwuid(agent_.principals_uid());
  const gid_t group = principals ? principals->pw_gid : 0;
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      chown(path.c_str(), 0, group) != 0 || chmod(path.c_str(), principals ? 0660 : 0600) != 0 ||
      listen(listen_fd_, SOMAXCONN) != 0) {
    return absl::UnavailableError(StrCat("cannot listen on ", path, ": ", strerror(errno)));
  }
  path_ = path;
  return absl::OkStatus();
}

void AgentServer::Run(const std::atomic<bool>& stop, Heartbeat* beat) {
  std::map<int, AgentConnection> conns;
  std::map<uid_t, size_t> unprivileged_by_uid;
  size_t unprivileged = 0;
  const uid_t principals_uid = agent_.principals_uid();
  auto drop = [&](int fd) {
    AgentConnection& c = conns[fd];
    if (c.session) agent_.ConnectionClosed(fd);
    if (!c.privileged) {
      unprivileged--;
      if (--unprivileged_by_uid[c.peer.uid] == 0) unprivileged_by_uid.erase(c.peer.uid);
    }
    close(fd);
    conns.erase(fd);
  };
  auto queue = [&](int fd, AgentConnection& c, const AgentReply& reply) {
    c.out += Frame(AgentReplyToProto(reply).SerializeAsString());
    return Flush(fd, c);
  };
  int64_t last_refusal_log = 0;
  size_t refused = 0;
  while (!stop) {
    if (beat) beat->Beat();
    std::vector<pollfd> fds;
    fds.push_back({listen_fd_, POLLIN, 0});
    fds.push_back({agent_.notify_fd(), POLLIN, 0});
    for (const auto& [fd, c] : conns) {
      // A peer that has not taken its reply is not read from until it does.
      fds.push_back({fd, static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
    }
    const int n = poll(fds.data(), fds.size(), 200);
    if (n < 0 && errno != EINTR) {
      LogLine(LOG_ERR, StrCat("agent socket poll: ", strerror(errno)));
      return;
    }
    const int64_t now = NowMs();
    // Replies to sessions that were held for moderators (before any descriptor is reused).
    for (auto& [fd, resp] : agent_.TakeReplies()) {
      auto it = conns.find(fd);
      if (it != conns.end() && !queue(fd, it->second, resp)) drop(fd);
    }
    if (fds[0].revents & POLLIN) {
      // Bounded per round, so that a connect flood cannot keep the loop from its connections.
      for (int i = 0; i < 256; i++) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
          if (errno == EMFILE || errno == ENFILE) {
            LogLine(LOG_ALERT, StrCat("agent socket: out of descriptors (", strerror(errno), ")"));
          }
          break;
        }
        AgentConnection c;
        socklen_t len = sizeof c.peer;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c.peer, &len) != 0) {
          close(fd);
          continue;
        }
        c.privileged = c.peer.uid == 0 || c.peer.uid == principals_uid;
        const bool over = conns.size() >= kMaxConnections ||
                          (!c.privileged && (unprivileged >= kMaxUnprivileged ||
                                             unprivileged_by_uid[c.peer.uid] >= kMaxPerUnprivilegedUid));
        if (over) {
          if (!c.privileged && unprivileged_by_uid[c.peer.uid] == 0) unprivileged_by_uid.erase(c.peer.uid);
          close(fd);
          refused++;
          continue;
        }
        if (!c.privileged) {
          unprivileged++;
          unprivileged_by_uid[c.peer.uid]++;
        }
        c.deadline = now + (c.privileged ? kRequestDeadlineMs : kUnprivilegedDeadlineMs);
        conns.emplace(fd, std::move(c));
      }
    }
    if (refused > 0 && now - last_refusal_log > 10000) {
      LogLine(LOG_WARNING, StrCat("agent socket: ", refused,
                                  " connection(s) over the limits closed at once"));
      refused = 0;
      last_refusal_log = now;
    }
    // Privileged peers first, then the rest.
    for (int pass = 0; pass < 2; pass++) {
      for (size_t i = 2; i < fds.size(); i++) {
        const int fd = fds[i].fd;
        auto it = conns.find(fd);
        if (it == conns.end() || it->second.privileged != (pass == 0)) continue;
        AgentConnection& c = it->second;
        if (!Serve(fd, c, fds[i].revents, now)) {
          drop(fd);
          continue;
        }
        if (c.deadline && now > c.deadline) {
          if (!c.in.empty() || !c.out.empty()) {
            LogLine(LOG_WARNING, StrCat("agent socket: pid ", c.peer.pid, " (uid ", c.peer.uid,
                                        ") did not finish its request or take its reply in time; closed"));
          }
          drop(fd);
        }
      }
    }
  }
  for (auto& [fd, c] : conns) {
    if (c.session) agent_.ConnectionClosed(fd);
    close(fd);
  }
}

bool AgentServer::Serve(int fd, AgentConnection& c, short revents, int64_t now) {
  if (revents & POLLOUT) {
    if (!Flush(fd, c)) return false;
    if (!c.out.empty()) return true;
    // An unprivileged peer keeps the deadline it got at accept: its lifetime is never extended.
    if (c.privileged) c.deadline = c.session ? 0 : now + kRequestDeadlineMs;
    // A request that arrived meanwhile is already in `in`: answered below.
  } else if (revents & (POLLIN | POLLHUP | POLLERR)) {
    // Never more than one whole request is buffered ahead of its answer.
    if (c.in.size() < 4 + kMaxAgentMessage) {
      char buf[4096];
      ssize_t r = recv(fd, buf, std::min(sizeof buf, 4 + kMaxAgentMessage - c.in.size()), MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) return false;
      if (r > 0) {
        if (c.in.empty() && c.session) c.deadline = now + kRequestDeadlineMs;
        c.in.append(buf, static_cast<size_t>(r));
      }
    }
  } else {
    return true;
  }
  // Answers the whole requests buffered, as long as the peer takes the answers.
  size_t used = 0;
  bool bad = false;
  while (c.out.empty() && c.in.size() - used >= 4) {
    const char* p = c.in.data() + used;
    const uint32_t len = (static_cast<uint32_t>(static_cast<uint8_t>(p[0])) << 24) |
                         (static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 16) |
                         (static_cast<uint32_t>(static_cast<uint8_t>(p[2])) << 8) |
                         static_cast<uint8_t>(p[3]);
    if (len > kMaxAgentMessage) {
      LogLine(LOG_WARNING, StrCat("agent socket: pid ", c.peer.pid, " sent a ", len,
                                  "-byte message (limit ", kMaxAgentMessage, "); closed"));
      return false;
    }
    if (c.in.size() - used < 4 + len) break;
    v1::AgentRequest req;
    v1::AgentResponse resp;
    if (!req.ParseFromArray(p + 4, static_cast<int>(len))) {
      resp.set_verdict(v1::AgentResponse::DENY);
      resp.set_message("Warden: malformed request");
      bad = true;
    } else {
      resp = AgentReplyToProto(agent_.Handle(AgentCallFromProto(req), c.peer, fd));
      if (req.has_session_open() && !resp.session_id().empty()) c.session = true;
    }
    used += 4 + len;
    c.out += Frame(resp.SerializeAsString());
    if (!Flush(fd, c) || bad) return false;
    // A reply the peer has not taken keeps a deadline, session or not; an unprivileged peer
    // keeps the one it got at accept.
    if (c.privileged) c.deadline = (c.session && c.out.empty()) ? 0 : now + kRequestDeadlineMs;
  }
  c.in.erase(0, used);
  return true;
}

}  // namespace warden
