#include "controller/alerts/siem_forwarder.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <optional>

#include "common/log.h"
#include "common/strings.h"
#include "controller/alerts/outbound.h"

namespace warden {
namespace {

using Steady = std::chrono::steady_clock;
constexpr size_t kBatchLines = 500;
constexpr int kMaxBackoffSeconds = 30;
constexpr int kIoTimeoutSeconds = 10;

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  if (!e) return "the connection was closed";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// Syslog over TCP (or TLS), one connection kept open, octet-counted frames.
class SyslogSink final : public SiemSink {
 public:
  explicit SyslogSink(SiemSinkPolicy p) : p_(std::move(p)) {
    const size_t colon = p_.address.rfind(':');
    host_ = p_.address.substr(0, colon);
    if (host_.size() > 2 && host_.front() == '[' && host_.back() == ']')
      host_ = host_.substr(1, host_.size() - 2);
    port_ = p_.address.substr(colon + 1);
  }
  ~SyslogSink() override {
    Disconnect();
    if (ctx_) SSL_CTX_free(ctx_);
  }

  absl::Status Send(const std::vector<AuditLine>& batch) override {
    if (fd_ < 0) RETURN_IF_ERROR(Connect());
    std::string frames;
    for (const AuditLine& l : batch) {
      const std::string m = SiemSyslogMessage(l.text);
      frames += StrCat(m.size(), " ", m);
    }
    absl::Status st = Write(frames);
    if (!st.ok()) Disconnect();
    return st;
  }
  int ConfirmMs() const override { return kSyslogConfirmMs; }
  bool Drained() override {
    int queued = 0;
    return fd_ >= 0 && ioctl(fd_, SIOCOUTQ, &queued) == 0 && queued == 0;
  }
  bool Healthy() override {
    if (fd_ < 0) return false;
    pollfd pfd{fd_, POLLIN | POLLRDHUP, 0};
    if (poll(&pfd, 1, 0) == 0) return true;
    if (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) {
      Disconnect();  // the collector closed its end
      return false;
    }
    // Readable without an end: TLS 1.3 session tickets after the handshake, or something the
    // collector said. Read and dropped, without waiting.
    char buf[512];
    const int flags = fcntl(fd_, F_GETFL);
    fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
    bool alive;
    if (ssl_) {
      const int n = SSL_read(ssl_, buf, sizeof buf);
      const int err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl_, n);
      alive = err == SSL_ERROR_NONE || err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE;
      ERR_clear_error();
    } else {
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      alive = n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    }
    fcntl(fd_, F_SETFL, flags);
    if (!alive) Disconnect();
    return alive;
  }
  void Disconnect() override {
    if (ssl_) {
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  absl::Status Connect() {
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (int rc = getaddrinfo(host_.c_str(), port_.c_str(), &hints, &res); rc != 0)
      return absl::UnavailableError(StrCat(p_.address, ": ", gai_strerror(rc)));
    std::string err = "no address";
    for (addrinfo* a = res; a && fd_ < 0; a = a->ai_next) {
      const int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0) continue;
      int rc = connect(fd, a->ai_addr, a->ai_addrlen);
      if (rc < 0 && errno == EINPROGRESS) {
        pollfd pfd{fd, POLLOUT, 0};
        rc = poll(&pfd, 1, 5000) == 1 ? 0 : -1;
        int soerr = rc == 0 ? 0 : ETIMEDOUT;
        socklen_t len = sizeof soerr;
        if (rc == 0) getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        errno = soerr;
        rc = soerr ? -1 : 0;
      }
      if (rc < 0) {
        err = strerror(errno);
        close(fd);
        continue;
      }
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      timeval tv{kIoTimeoutSeconds, 0};
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      fd_ = fd;
    }
    freeaddrinfo(res);
    if (fd_ < 0) return absl::UnavailableError(StrCat("connect to ", p_.address, ": ", err));
    if (p_.tls) {
      absl::Status st = Handshake();
      if (!st.ok()) {
        Disconnect();
        return st;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Handshake() {
    if (!ctx_) {
      ctx_ = SSL_CTX_new(TLS_client_method());
      if (!ctx_) return absl::InternalError(OpenSslError());
      SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
      const int loaded = p_.ca_file.empty()
                             ? SSL_CTX_set_default_verify_paths(ctx_)
                             : SSL_CTX_load_verify_locations(ctx_, p_.ca_file.c_str(), nullptr);
      if (loaded != 1) {
        const std::string why = OpenSslError();
        SSL_CTX_free(ctx_);
        ctx_ = nullptr;
        return absl::FailedPreconditionError(
            StrCat("siem sink ", p_.name, ": CA file ", p_.ca_file, ": ", why));
      }
    }
    ssl_ = SSL_new(ctx_);
    const std::string name = p_.server_name.empty() ? host_ : p_.server_name;
    in6_addr ip;
    if (inet_pton(AF_INET, name.c_str(), &ip) == 1 || inet_pton(AF_INET6, name.c_str(), &ip) == 1) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl_, name.c_str());
      SSL_set1_host(ssl_, name.c_str());
    }
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) {
      const long verify = SSL_get_verify_result(ssl_);
      std::string why = verify != X509_V_OK
                            ? StrCat("its certificate: ", X509_verify_cert_error_string(verify))
                            : OpenSslError();
      return absl::UnavailableError(StrCat("TLS to ", p_.address, ": ", why));
    }
    return absl::OkStatus();
  }

  absl::Status Write(std::string_view data) {
    // A collector that reads a trickle does not hold the sink for ever.
    const auto deadline = Steady::now() + std::chrono::seconds(3 * kIoTimeoutSeconds);
    while (!data.empty()) {
      if (Steady::now() > deadline)
        return absl::DeadlineExceededError(StrCat(p_.address, " took more than ",
                                                  3 * kIoTimeoutSeconds, " s to take a batch"));
      ssize_t n;
      if (ssl_) {
        n = SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 20)));
        if (n <= 0) return absl::UnavailableError(StrCat("TLS to ", p_.address, ": ", OpenSslError()));
      } else {
        n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EINTR) continue;
          return absl::UnavailableError(StrCat("send to ", p_.address, ": ", strerror(errno)));
        }
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  const SiemSinkPolicy p_;
  std::string host_, port_;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

class WebhookSink final : public SiemSink {
 public:
  explicit WebhookSink(SiemSinkPolicy p) : p_(std::move(p)) {}
  absl::Status Send(const std::vector<AuditLine>& batch) override {
    std::string body;
    for (const AuditLine& l : batch) body += StrCat(l.text, "\n");
    return HttpPost(p_.url, p_.ca_file, "application/x-ndjson", body);
  }

 private:
  const SiemSinkPolicy p_;
};

class FileSink final : public SiemSink {
 public:
  explicit FileSink(SiemSinkPolicy p) : p_(std::move(p)) {}
  ~FileSink() override { Disconnect(); }
  absl::Status Send(const std::vector<AuditLine>& batch) override {
    if (fd_ < 0) {
      fd_ = open(p_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
      if (fd_ < 0) return absl::UnavailableError(StrCat(p_.path, ": ", strerror(errno)));
    }
    std::string data;
    for (const AuditLine& l : batch) data += StrCat(l.text, "\n");
    std::string_view rest = data;
    while (!rest.empty()) {
      const ssize_t n = write(fd_, rest.data(), rest.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        Disconnect();
        return absl::UnavailableError(StrCat(p_.path, ": ", strerror(err)));
      }
      rest.remove_prefix(static_cast<size_t>(n));
    }
    if (fdatasync(fd_) != 0) {
      const int err = errno;
      Disconnect();
      return absl::UnavailableError(StrCat(p_.path, ": fdatasync: ", strerror(err)));
    }
    return absl::OkStatus();
  }
  void Disconnect() override {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  const SiemSinkPolicy p_;
  int fd_ = -1;
};

}  // namespace

std::string SiemSyslogMessage(std::string_view json_line) {
  nlohmann::json e = nlohmann::json::parse(json_line, nullptr, false);
  int severity = kSyslogInfo;
  std::string msgid, ts;
  if (e.is_object()) {
    if (e.value("alert", false))
      severity = e.value("severity", "") == "critical" ? kSyslogCrit : kSyslogWarning;
    msgid = e.value("event", e.value("call", e.value("type", "")));
    ts = e.value("ts", "");
  }
  return Rfc5424(severity, ts, msgid, json_line);
}

absl::StatusOr<std::unique_ptr<SiemSink>> MakeSiemSink(const SiemSinkPolicy& p) {
  if (p.type == "syslog") return std::make_unique<SyslogSink>(p);
  if (p.type == "webhook") return std::make_unique<WebhookSink>(p);
  if (p.type == "file") return std::make_unique<FileSink>(p);
  return absl::InvalidArgumentError(StrCat("siem sink ", p.name, ": unknown type ", p.type));
}

struct SiemForwarder::Sink {
  SiemSinkPolicy policy;
  std::unique_ptr<SiemSink> out;
  std::string cursor_path;
  AuditCursor delivered;  // persisted
  uint64_t sent_seq = 0;  // handed to the sink (syslog: maybe not confirmed yet)
  std::thread thread;
  // For Stats(), under mu_.
  uint64_t sent = 0, failures = 0;
  std::string last_error;
};

SiemForwarder::SiemForwarder(const SiemPolicy& policy, std::string audit_path,
                             std::string cursor_dir, AuditLog& audit)
    : policy_(policy), audit_path_(std::move(audit_path)), cursor_dir_(std::move(cursor_dir)),
      audit_(audit) {}

SiemForwarder::~SiemForwarder() { Stop(); }

void SiemForwarder::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& s : sinks_)
    if (s->thread.joinable()) s->thread.join();
}

absl::Status SiemForwarder::Start() {
  if (policy_.sinks.empty()) return absl::OkStatus();
  for (const SiemSinkPolicy& p : policy_.sinks) {
    auto s = std::make_unique<Sink>();
    s->policy = p;
    ASSIGN_OR_RETURN(s->out, MakeSiemSink(p));
    s->cursor_path = StrCat(cursor_dir_, "/", p.name, ".cursor");
    ASSIGN_OR_RETURN(s->delivered, LoadCursor(s->cursor_path));
    sinks_.push_back(std::move(s));
  }
  for (auto& s : sinks_) s->thread = std::thread([this, sp = s.get()] { Run(*sp); });
  return absl::OkStatus();
}

std::vector<SiemSinkStats> SiemForwarder::Stats() {
  const uint64_t head = audit_.LastSeq();
  std::lock_guard lock(mu_);
  std::vector<SiemSinkStats> out;
  for (auto& s : sinks_) {
    const uint64_t has = std::max(s->sent_seq, s->delivered.seq);
    out.push_back({s->policy.name, s->delivered.seq, head > has ? head - has : 0, s->sent,
                   s->failures, s->last_error});
  }
  return out;
}

void SiemForwarder::Run(Sink& s) {
  AuditTail tail(audit_path_);
  AuditCursor sent;
  {
    std::lock_guard lock(mu_);
    sent = s.delivered;
  }
  // Sent but not yet confirmed (syslog): where each batch ended, and when it was sent.
  std::deque<std::pair<AuditCursor, Steady::time_point>> unconfirmed;
  const auto confirm = std::chrono::milliseconds(s.out->ConfirmMs());
  int backoff = 0;
  bool lag_alerted = false;
  auto last_progress = Steady::now();
  auto lag_since = Steady::now();
  const std::string who = StrCat("siem sink ", s.policy.name);

  auto persist = [&](const AuditCursor& c) {
    if (c.seq == s.delivered.seq) return;
    absl::Status st = SaveCursor(s.cursor_path, c);
    if (!st.ok()) WriteLogLine("warden-controller", LOG_ERR, StrCat(who, ": ", st.message()));
    std::lock_guard lock(mu_);
    s.delivered = c;  // in memory even if the file failed: a restart sends the rest again
  };
  auto check_lag = [&] {
    const uint64_t head = audit_.LastSeq();
    const uint64_t behind = head > sent.seq ? head - sent.seq : 0;
    if (behind == 0) {
      lag_since = Steady::now();
      if (lag_alerted) {
        lag_alerted = false;
        (void)audit_.Append({{"event", "siem.caught_up"}, {"sink", s.policy.name}});
      }
      return;
    }
    const auto stalled = std::chrono::duration_cast<std::chrono::seconds>(
                             Steady::now() - std::max(last_progress, lag_since))
                             .count();
    if (!lag_alerted && (behind >= policy_.lag_alert_events || stalled >= policy_.lag_alert_seconds)) {
      std::string error;
      {
        std::lock_guard lock(mu_);
        error = s.last_error;
      }
      // Retried on the next round if the log refuses it: the lag is still there.
      lag_alerted = audit_
                        .Append({{"event", "siem.lag"},
                                 {"alert", true},
                                 {"severity", "warning"},
                                 {"sink", s.policy.name},
                                 {"summary", StrCat("SIEM sink ", s.policy.name, " is ", behind,
                                                    " events behind",
                                                    error.empty() ? "" : StrCat(": ", error))},
                                 {"behind", behind},
                                 {"stalled_seconds", stalled},
                                 {"error", error}})
                        .ok();
    }
  };

  std::unique_lock lock(mu_);
  while (!stopping_) {
    const uint64_t seen = written_.load();
    lock.unlock();
    // What a live connection has held long enough counts as delivered.
    if (!unconfirmed.empty()) {
      if (!s.out->Healthy()) {
        sent = s.delivered;  // broke: send again what it may have lost
        unconfirmed.clear();
        std::lock_guard l(mu_);
        s.sent_seq = sent.seq;
      } else {
        std::optional<AuditCursor> held;
        const bool drained = s.out->Drained();
        while (drained && !unconfirmed.empty() &&
               Steady::now() - unconfirmed.front().second >= confirm) {
          held = unconfirmed.front().first;
          unconfirmed.pop_front();
        }
        if (held) persist(*held);
      }
    }
    absl::StatusOr<std::vector<AuditLine>> lines = tail.Read(sent, kBatchLines);
    absl::Status st = lines.status();
    if (lines.ok() && !lines->empty()) {
      st = s.out->Send(*lines);
      if (st.ok()) {
        sent = lines->back().end;
        if (confirm.count() == 0) {
          persist(sent);
        } else {
          unconfirmed.emplace_back(sent, Steady::now());
        }
        last_progress = Steady::now();
        backoff = 0;
        std::lock_guard l(mu_);
        s.sent += lines->size();
        s.sent_seq = sent.seq;
      } else {
        s.out->Disconnect();
        sent = s.delivered;
        unconfirmed.clear();
        std::lock_guard l(mu_);
        s.sent_seq = sent.seq;
      }
    }
    if (!st.ok()) {
      bool first;
      {
        std::lock_guard l(mu_);
        first = s.failures++ == 0 || s.last_error != st.message();
        s.last_error = std::string(st.message());
      }
      if (first || backoff >= kMaxBackoffSeconds)
        WriteLogLine("warden-controller", LOG_WARNING,
                     StrCat(who, ": ", st.message(), "; retrying from event ", sent.seq + 1));
      backoff = backoff ? std::min(backoff * 2, kMaxBackoffSeconds) : 1;
    } else if (lines.ok() && lines->empty()) {
      std::lock_guard l(mu_);
      s.last_error.clear();
    }
    check_lag();
    lock.lock();
    if (!st.ok()) {
      cv_.wait_for(lock, std::chrono::seconds(backoff), [&] { return stopping_; });
    } else if (lines.ok() && lines->size() < kBatchLines) {
      cv_.wait_for(lock, std::chrono::milliseconds(unconfirmed.empty() ? 200 : kSyslogConfirmMs / 4),
                   [&] { return stopping_ || written_.load() != seen; });
    }
  }
  lock.unlock();
  // Stopping: what a live syslog connection has had since the last acknowledgement stays
  // unconfirmed; it is sent again after the restart.
}

}  // namespace warden
