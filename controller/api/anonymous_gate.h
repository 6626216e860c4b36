// Admission of the calls that need no client certificate (AuthService.Login and
// HostService.Enroll). Anyone who can reach the port can make them, so each one is bounded
// before it costs the controller anything it cannot afford:
//
//  - a token bucket per source address (IPv4 address, or IPv6 /64, since one client owns a
//    whole /64): `per_second` calls, bursts of `burst`. The table holds at most `max_sources`
//    addresses; when full, addresses whose bucket has refilled go first, then the longest idle.
//  - at most `max_in_flight` admitted calls queued or running on the worker pool at once, so
//    that anonymous work (scrypt, signing) never holds the workers that operators' calls and the
//    hosts' watch streams need.
//
// A refused call is not audited one by one: the first refusal of an address in each
// `report_interval_ms` asks the caller to write one summary event carrying how many calls of
// that address were refused since the previous summary. The audit log therefore grows by at
// most one event per address and interval however fast a client calls, and cannot be filled
// (a full log refuses every call, the hosts' watch streams included).
//
// Thread-safe. Time is injected (a monotonic clock in milliseconds) so tests need not sleep.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"

namespace warden {

struct AnonymousCallLimits {
  double per_second = 10;
  double burst = 20;
  size_t max_sources = 4096;
  int max_in_flight = 4;
  int64_t report_interval_ms = 60'000;
  int max_reports_in_flight = 2;
};

class AnonymousGate {
 public:
  using MonotonicMs = std::function<int64_t()>;
  explicit AnonymousGate(AnonymousCallLimits limits, MonotonicMs now_ms = SteadyNowMs);

  enum class Verdict { kAdmitted, kRateLimited, kBusy };
  struct Decision {
    Verdict verdict = Verdict::kAdmitted;
    // Non-zero on a refusal that must be reported: the number of refused calls of this source
    // since its last report, this one included. A report holds one of `max_reports_in_flight`
    // slots of its own (admitted calls may hold all of theirs): the caller writes the summary on
    // the worker pool, then calls ReportDone(). With no slot free the report waits, and the
    // count carries over to the next refusal.
    uint64_t refused_to_report = 0;
  };

  // REQUIRES: `source` from SourceOf. An admitted call must be followed by Done(), a report by
  // ReportDone().
  Decision Admit(std::string_view source);
  void Done();
  void ReportDone();

  // The key that a gRPC peer ("ipv4:10.1.2.3:5555", "ipv6:[2001:db8::1]:5555", also with the
  // brackets %-encoded) is limited under: "10.1.2.3", "2001:db8::/64". Anything else is used
  // whole.
  static std::string SourceOf(std::string_view grpc_peer);

  // The status a refused call gets.
  static absl::Status Refusal(Verdict verdict, std::string_view source);

  size_t sources() const;
  int in_flight() const;

 private:
  struct Bucket {
    double tokens = 0;
    int64_t refilled_ms = 0;
    int64_t seen_ms = 0;  // the last call
    int64_t reported_ms = 0;
    bool reported = false;
    uint64_t unreported = 0;  // refusals since the last report
  };
  static int64_t SteadyNowMs();
  void Refill(Bucket& b, int64_t now) const;
  void MakeRoom(int64_t now);  // REQUIRES: mu_ held

  const AnonymousCallLimits limits_;
  const MonotonicMs now_ms_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
  int in_flight_ = 0;
  int reports_in_flight_ = 0;
};

// Size limits of the fields of unauthenticated calls, checked before anything is audited.
struct FieldLimit {
  std::string_view name;
  size_t bytes;
  size_t max;
};
// INVALID_ARGUMENT naming the first field over its limit, and the limit; OK when none is.
absl::Status CheckFieldLimits(std::initializer_list<FieldLimit> fields);

}  // namespace warden
