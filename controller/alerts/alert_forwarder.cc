#include "controller/alerts/alert_forwarder.h"

#include <curl/curl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>

#include "common/strings.h"

namespace warden {
namespace {

constexpr size_t kMaxQueued = 10000;
constexpr int kWebhookTries = 5;
constexpr int kFacilityAuthpriv = 10;
constexpr int kSeverityCrit = 2, kSeverityWarning = 4;

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// RFC 5424 TIMESTAMP: UTC with a trailing Z.
std::string Rfc3339Now() {
  const auto now = std::chrono::system_clock::now();
  const time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[40];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

// RFC 5424 header fields are printable US-ASCII without spaces, "-" when empty.
std::string HeaderField(std::string_view v, size_t max) {
  std::string out;
  for (char c : v.substr(0, max)) out += (c > 32 && c < 127) ? c : '_';
  return out.empty() ? "-" : out;
}

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

// The JSON of an alert: bytes that are not UTF-8 (a server's message in another encoding) are
// replaced, never thrown on.
std::string Dump(const nlohmann::json& event) {
  return event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AlertForwarder::Raise(const nlohmann::json& event) {
  if (config_.syslog) {
    // A local datagram, sent at once: it never waits behind a slow webhook.
    char host[256] = "-";
    gethostname(host, sizeof host - 1);
    absl::Status st = SendSyslog(SyslogMessage(event, host, getpid()));
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

std::string AlertForwarder::SyslogMessage(const nlohmann::json& event, std::string_view host,
                                          int pid) {
  const bool critical = event.value("severity", "") == "critical";
  const int pri = kFacilityAuthpriv * 8 + (critical ? kSeverityCrit : kSeverityWarning);
  // <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG
  return StrCat("<", pri, ">1 ", Rfc3339Now(), " ", HeaderField(host, 255), " warden-controller ",
                pid, " ", HeaderField(event.value("event", ""), 32), " - ", Dump(event));
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

absl::Status AlertForwarder::PostWebhook(const std::string& body) {
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return absl::ResourceExhaustedError("curl_easy_init failed");
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(
      curl_slist_append(nullptr, "Content-Type: application/json"), curl_slist_free_all);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, config_.webhook.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Discard);
  if (!config_.webhook_ca.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, config_.webhook_ca.c_str());
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK)
    return absl::UnavailableError(StrCat("webhook ", WebhookSite(), ": ", curl_easy_strerror(rc)));
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 || code > 299)
    return absl::UnavailableError(StrCat("webhook ", WebhookSite(), " answered HTTP ", code));
  return absl::OkStatus();
}

std::string AlertForwarder::WebhookSite() const {
  // Scheme and host only: the path of a webhook URL is often its secret.
  const size_t scheme = config_.webhook.find("://");
  const size_t end = config_.webhook.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return config_.webhook.substr(0, end);
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
      const std::string body = Dump(event);
      for (int attempt = 0; attempt < tries; attempt++) {
        if (attempt) {
          std::unique_lock wait(mu_);
          if (cv_.wait_for(wait, std::chrono::seconds(1 << (attempt - 1)), [&] { return stopping_; }))
            break;
        }
        st = PostWebhook(body);
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
