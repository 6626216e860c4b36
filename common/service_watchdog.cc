#include "common/service_watchdog.h"

#include <systemd/sd-daemon.h>
#include <syslog.h>

#include <chrono>
#include <thread>

#include "common/strings.h"
#include "common/log.h"

namespace warden {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void SdNotify(const char* state) { sd_notify(0, state); }

}  // namespace

Heartbeat::Heartbeat(std::string name) : name_(std::move(name)), last_ns_(NowNs()) {}

void Heartbeat::Beat() {
  last_ns_.store(NowNs(), std::memory_order_relaxed);
  started_.store(true, std::memory_order_relaxed);
}

ServiceWatchdog::ServiceWatchdog(const char* program) : program_(program), ping_(SdNotify) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) interval_us_ = static_cast<int64_t>(usec);
}

ServiceWatchdog::ServiceWatchdog(const char* program, int64_t interval_us,
                                 void (*ping)(const char*))
    : program_(program), interval_us_(interval_us), ping_(ping) {}

Heartbeat& ServiceWatchdog::Register(std::string name) {
  return beats_.emplace_back(std::move(name));
}

std::string ServiceWatchdog::Stale() const {
  const int64_t now = NowNs();
  for (const Heartbeat& b : beats_) {
    if (now - b.last_ns() > interval_us_ * 1000) return b.name();
  }
  return "";
}

void ServiceWatchdog::Run(const std::atomic<bool>& stop) {
  if (!enabled()) return;
  const auto half = std::chrono::microseconds(interval_us_ / 2);
  bool reported = false;
  while (!stop) {
    const std::string stale = Stale();
    if (stale.empty()) {
      ping_("WATCHDOG=1");
      reported = false;
    } else if (!reported) {
      WriteLogLine(program_, LOG_CRIT, StrCat("watchdog: the ", stale, " loop has not turned for over ",
                               interval_us_ / 1000000, " s; systemd will restart the service"));
      reported = true;
    }
    // Sleep in short steps so a stop request is not held up by a long interval.
    for (auto slept = std::chrono::microseconds(0); slept < half && !stop;
         slept += std::chrono::milliseconds(100)) {
      std::this_thread::sleep_for(std::min<std::chrono::microseconds>(
          std::chrono::milliseconds(100), half - slept));
    }
  }
}

void NotifyReady() { sd_notify(0, "READY=1"); }
void NotifyStopping() { sd_notify(0, "STOPPING=1"); }

}  // namespace warden
