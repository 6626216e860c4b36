#include "controller/alerts/alert_forwarder.h"

#include <curl/curl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <memory>

#include "common/strings.h"
#include "controller/alerts/outbound.h"

namespace warden {
namespace {

constexpr size_t kMaxQueued = 10000;
constexpr int kWebhookTries = 5;

}  // namespace

AlertForwarder::AlertForwarder(AlertConfig config) : config_(std::move(config)) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  thread_ = std::thread([this] { Run(); });
}

AlertForwarder::~AlertForwarder() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  curl_global_cleanup();
}

void AlertForwarder::Raise(const nlohmann::json& event) {
  if (config_.syslog) {
    // A local datagram, sent at once: it never waits behind a slow webhook.
    absl::Status st = SendSyslog(SyslogMessage(event));
    if (!st.ok()) std::cerr << "warden-controller: alerts: " << st.message() << "\n";
  }
  if (config_.webhook.empty()) return;
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      // Full: a warning goes first, a critical alert last.
      auto victim = std::find_if(queue_.begin(), queue_.end(), [](const nlohmann::json& e) {
        return e.value("severity", "") != "critical";
      });
      queue_.erase(victim == queue_.end() ? queue_.begin() : victim);
      dropped_++;
    }
    queue_.push_back(event);
  }
  cv_.notify_one();
}

std::string AlertForwarder::SyslogMessage(const nlohmann::json& event) {
  const bool critical = event.value("severity", "") == "critical";
  return Rfc5424(critical ? kSyslogCrit : kSyslogWarning, "", event.value("event", ""),
                 DumpEvent(event));
}

absl::Status AlertForwarder::SendSyslog(const std::string& message) {
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(StrCat("socket: ", strerror(errno)));
  std::unique_ptr<const int, void (*)(const int*)> closer(&fd, [](const int* f) { close(*f); });
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (config_.syslog_socket.size() >= sizeof addr.sun_path)
    return absl::InvalidArgumentError("syslog_socket path too long");
  memcpy(addr.sun_path, config_.syslog_socket.c_str(), config_.syslog_socket.size() + 1);
  if (sendto(fd, message.data(), message.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&addr),
             sizeof addr) < 0)
    return absl::UnavailableError(StrCat("syslog to ", config_.syslog_socket, ": ", strerror(errno)));
  return absl::OkStatus();
}

void AlertForwarder::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, all delivered
    nlohmann::json event = std::move(queue_.front());
    queue_.pop_front();
    const uint64_t dropped = std::exchange(dropped_, 0);
    // Once stopping, one try each, and no waiting between tries.
    const int tries = stopping_ ? 1 : kWebhookTries;
    lock.unlock();
    if (dropped)
      std::cerr << "warden-controller: alerts: " << dropped
                << " alerts dropped (more than 10000 waiting; the audit log has them all)\n";
    absl::Status st;
    try {
      const std::string body = DumpEvent(event);
      for (int attempt = 0; attempt < tries; attempt++) {
        if (attempt) {
          std::unique_lock wait(mu_);
          if (cv_.wait_for(wait, std::chrono::seconds(1 << (attempt - 1)), [&] { return stopping_; }))
            break;
        }
        st = HttpPost(config_.webhook, config_.webhook_ca, "application/json", body);
        if (st.ok()) break;
      }
    } catch (const std::exception& e) {
      st = absl::InternalError(e.what());
    }
    if (!st.ok())
      std::cerr << "warden-controller: alerts: alert seq " << event.value("seq", 0)
                << " not delivered: " << st.message() << "\n";
    lock.lock();
  }
}

}  // namespace warden
