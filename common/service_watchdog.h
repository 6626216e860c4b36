// systemd's service watchdog for Warden's daemons (units with Type=notify and WatchdogSec=).
//
// A ping that a timer thread sends whatever happens proves only that the process exists. Here each
// loop the service depends on registers a Heartbeat and beats it once per turn; Run pings
// "WATCHDOG=1" at half the interval only while every heartbeat has beaten within the interval. A
// loop stuck in a deadlock or a call that never returns stops the pings, and systemd restarts the
// service (Restart=always) with a journal line naming the loop.
//
// REQUIRES: a registered loop turns at least once per interval when idle (the agent socket's poll
// wakes every 200 ms, the enforcer every 5 s: WatchdogSec= of 30 s leaves room).
// Thread-safety: Beat from any thread; Register before Run.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>

namespace warden {

class Heartbeat {
 public:
  explicit Heartbeat(std::string name);
  void Beat();
  // Whether Beat was ever called: the loop has started (a service is ready once it has).
  bool started() const { return started_.load(std::memory_order_relaxed); }
  const std::string& name() const { return name_; }
  int64_t last_ns() const { return last_ns_.load(std::memory_order_relaxed); }

 private:
  std::string name_;
  std::atomic<int64_t> last_ns_;
  std::atomic<bool> started_{false};
};

class ServiceWatchdog {
 public:
  // Reads the interval systemd set (WATCHDOG_USEC for this pid); none: disabled. `program`
  // names the service in its log line about a stuck loop.
  explicit ServiceWatchdog(const char* program);
  // For tests: an interval given directly, pings sent by `ping` instead of sd_notify.
  ServiceWatchdog(const char* program, int64_t interval_us, void (*ping)(const char* state));

  bool enabled() const { return interval_us_ > 0; }
  int64_t interval_us() const { return interval_us_; }
  // The returned heartbeat lives as long as the watchdog.
  Heartbeat& Register(std::string name);
  // The name of a heartbeat that has not beaten within the interval, or "" when all have.
  std::string Stale() const;
  // Until `stop`: every half interval, pings if nothing is stale; otherwise logs once which loop
  // is stuck and sends nothing (systemd then restarts the service). Returns at once if disabled.
  void Run(const std::atomic<bool>& stop);

 private:
  const char* program_;
  int64_t interval_us_ = 0;
  void (*ping_)(const char* state);
  std::deque<Heartbeat> beats_;  // stable addresses
};

// Tells systemd the service is ready (Type=notify) or stopping; no-op outside systemd.
void NotifyReady();
void NotifyStopping();

}  // namespace warden
