#include "controller/alerts/outbound.h"

#include <curl/curl.h>
#include <unistd.h>

#include <chrono>
#include <memory>

#include "common/strings.h"

namespace warden {
namespace {

constexpr int kFacilityAuthpriv = 10;

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

std::string DumpEvent(const nlohmann::json& event) {
  return event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Rfc5424(int severity, std::string_view timestamp, std::string_view msgid,
                    std::string_view msg) {
  static const std::string host = [] {
    char h[256] = "";
    gethostname(h, sizeof h - 1);
    return HeaderField(h, 255);
  }();
  return StrCat("<", kFacilityAuthpriv * 8 + severity, ">1 ",
                timestamp.empty() ? Rfc3339Now() : HeaderField(timestamp, 64), " ", host,
                " warden-controller ", getpid(), " ", HeaderField(msgid, 32), " - ", msg);
}

std::string UrlSite(std::string_view url) {
  const size_t scheme = url.find("://");
  const size_t end = url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
  return std::string(url.substr(0, end));
}

absl::Status HttpPost(const std::string& url, const std::string& ca_file,
                      const char* content_type, const std::string& body) {
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return absl::ResourceExhaustedError("curl_easy_init failed");
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(
      curl_slist_append(nullptr, StrCat("Content-Type: ", content_type).c_str()),
      curl_slist_free_all);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Discard);
  if (!ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file.c_str());
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK)
    return absl::UnavailableError(StrCat(UrlSite(url), ": ", curl_easy_strerror(rc)));
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 || code > 299)
    return absl::UnavailableError(StrCat(UrlSite(url), " answered HTTP ", code));
  return absl::OkStatus();
}

}  // namespace warden
