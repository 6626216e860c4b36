#include "controller/api/anonymous_gate.h"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "common/strings.h"

namespace warden {

AnonymousGate::AnonymousGate(AnonymousCallLimits limits, MonotonicMs now_ms)
    : limits_(limits), now_ms_(std::move(now_ms)) {}

int64_t AnonymousGate::SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void AnonymousGate::Refill(Bucket& b, int64_t now) const {
  if (now > b.refilled_ms) {
    b.tokens = std::min(limits_.burst, b.tokens + static_cast<double>(now - b.refilled_ms) *
                                                      limits_.per_second / 1000);
    b.refilled_ms = now;
  }
}

void AnonymousGate::MakeRoom(int64_t now) {
  // Addresses whose bucket is full again and that owe no report are as good as new: forget them.
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    Refill(it->second, now);
    if (it->second.tokens >= limits_.burst && it->second.unreported == 0) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
  if (buckets_.size() < limits_.max_sources) return;
  auto idle = std::min_element(buckets_.begin(), buckets_.end(), [](const auto& a, const auto& b) {
    return a.second.seen_ms < b.second.seen_ms;
  });
  buckets_.erase(idle);
}

AnonymousGate::Decision AnonymousGate::Admit(std::string_view source) {
  const int64_t now = now_ms_();
  std::lock_guard lock(mu_);
  auto it = buckets_.find(std::string(source));
  if (it == buckets_.end()) {
    if (buckets_.size() >= limits_.max_sources) MakeRoom(now);
    it = buckets_.emplace(std::string(source), Bucket{limits_.burst, now, now, 0, false, 0}).first;
  }
  Bucket& b = it->second;
  Refill(b, now);
  b.seen_ms = now;
  Decision d;
  if (b.tokens < 1) {
    d.verdict = Verdict::kRateLimited;
  } else if (in_flight_ >= limits_.max_in_flight) {
    d.verdict = Verdict::kBusy;
  } else {
    b.tokens -= 1;
    in_flight_++;
    return d;
  }
  b.unreported++;
  if ((!b.reported || now - b.reported_ms >= limits_.report_interval_ms) &&
      reports_in_flight_ < limits_.max_reports_in_flight) {
    d.refused_to_report = b.unreported;
    b.unreported = 0;
    b.reported = true;
    b.reported_ms = now;
    reports_in_flight_++;
  }
  return d;
}

void AnonymousGate::Done() {
  std::lock_guard lock(mu_);
  in_flight_--;
}

void AnonymousGate::ReportDone() {
  std::lock_guard lock(mu_);
  reports_in_flight_--;
}

size_t AnonymousGate::sources() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

int AnonymousGate::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

std::string AnonymousGate::SourceOf(std::string_view peer) {
  if (peer.substr(0, 5) == "ipv4:") {
    std::string_view rest = peer.substr(5);
    return std::string(rest.substr(0, rest.rfind(':')));
  }
  if (peer.substr(0, 5) == "ipv6:") {
    std::string rest(peer.substr(5));
    for (std::string_view enc : {"%5B", "%5b", "%5D", "%5d"}) {
      for (size_t pos; (pos = rest.find(enc)) != std::string::npos;) {
        rest.replace(pos, 3, enc[2] == 'B' || enc[2] == 'b' ? "[" : "]");
      }
    }
    const size_t open = rest.find('['), close = rest.find(']');
    if (open == std::string::npos || close == std::string::npos || close < open) return rest;
    std::string addr = rest.substr(open + 1, close - open - 1);
    addr = addr.substr(0, addr.find('%'));  // a zone id names the link, not the client
    in6_addr a{};
    if (inet_pton(AF_INET6, addr.c_str(), &a) != 1) return addr;
    std::memset(a.s6_addr + 8, 0, 8);
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a, text, sizeof text);
    return StrCat(text, "/64");
  }
  return std::string(peer);
}

absl::Status AnonymousGate::Refusal(Verdict verdict, std::string_view source) {
  if (verdict == Verdict::kRateLimited) {
    return absl::ResourceExhaustedError(
        StrCat("too many logins or enrollments from ", source,
               "; retry later (the controller accepts a few per second from one address)"));
  }
  return absl::ResourceExhaustedError(
      "the controller is busy with other logins and enrollments; retry in a few seconds");
}

absl::Status CheckFieldLimits(std::initializer_list<FieldLimit> fields) {
  for (const FieldLimit& f : fields) {
    if (f.bytes > f.max) {
      return absl::InvalidArgumentError(
          StrCat("field ", f.name, " is ", f.bytes, " bytes; at most ", f.max, " are accepted"));
    }
  }
  return absl::OkStatus();
}

}  // namespace warden
