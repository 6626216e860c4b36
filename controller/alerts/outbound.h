// What the alert pager (alert_forwarder.h) and the SIEM forwarder (siem_forwarder.h) send with:
// an HTTP(S) POST, and RFC 5424 syslog messages.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "common/status.h"

namespace warden {

// POSTs `body` to `url` (http or https; https checked against `ca_file`, empty: the system's
// CAs). A 2xx answer is delivery; anything else is UNAVAILABLE naming the site (never the path,
// which is often a webhook's secret). Bounded: 5 s to connect, 10 s in all.
absl::Status HttpPost(const std::string& url, const std::string& ca_file,
                      const char* content_type, const std::string& body);
// Scheme and host of `url`.
std::string UrlSite(std::string_view url);

// An event as JSON text: bytes that are not UTF-8 (a server's message in another encoding) are
// replaced, never thrown on.
std::string DumpEvent(const nlohmann::json& event);

// Syslog severities (RFC 5424) and facility authpriv.
inline constexpr int kSyslogCrit = 2, kSyslogWarning = 4, kSyslogInfo = 6;
// One RFC 5424 message from warden-controller on this host, facility authpriv:
// <PRI>1 TIMESTAMP HOSTNAME warden-controller PROCID MSGID - MSG. `timestamp` empty: now.
std::string Rfc5424(int severity, std::string_view timestamp, std::string_view msgid,
                    std::string_view msg);

}  // namespace warden
