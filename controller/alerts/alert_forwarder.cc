#include "controller/alerts/alert_forwarder.h"

#include <curl/curl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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

void AlertForwarder::Raise(const nlohmann::json& event) {
  if (config_.webhook.empty() && !config_.syslog) return;
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      queue_.pop_front();
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
                pid, " ", HeaderField(event.value("event", ""), 32), " - ", event.dump());
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
  if (sendto(fd, message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&addr),
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
    return absl::UnavailableError(StrCat("webhook ", config_.webhook, ": ", curl_easy_strerror(rc)));
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 || code > 299)
    return absl::UnavailableError(StrCat("webhook ", config_.webhook, " answered HTTP ", code));
  return absl::OkStatus();
}

void AlertForwarder::Run() {
  char host[256] = "-";
  gethostname(host, sizeof host - 1);
  for (;;) {
    nlohmann::json event;
    uint64_t dropped = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, all delivered
      event = std::move(queue_.front());
      queue_.pop_front();
      std::swap(dropped, dropped_);
    }
    if (dropped)
      std::cerr << "warden-controller: alerts: " << dropped
                << " alerts dropped (more than 10000 waiting; the audit log has them all)\n";
    if (config_.syslog) {
      absl::Status st = SendSyslog(SyslogMessage(event, host, getpid()));
      if (!st.ok()) std::cerr << "warden-controller: alerts: " << st.message() << "\n";
    }
    if (!config_.webhook.empty()) {
      const std::string body = event.dump();
      absl::Status st;
      for (int attempt = 0; attempt < kWebhookTries; attempt++) {
        if (attempt) std::this_thread::sleep_for(std::chrono::seconds(1 << (attempt - 1)));
        st = PostWebhook(body);
        if (st.ok()) break;
      }
      if (!st.ok())
        std::cerr << "warden-controller: alerts: alert seq " << event.value("seq", 0)
                  << " not delivered after " << kWebhookTries << " tries: " << st.message() << "\n";
    }
  }
}

}  // namespace warden
