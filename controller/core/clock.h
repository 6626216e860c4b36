// Time source, injectable so that tests can move time (request expiry, leases, TTL clamping).
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>

namespace warden {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t Now() const = 0;  // unix seconds
};

class SystemClock final : public Clock {
 public:
  int64_t Now() const override { return static_cast<int64_t>(::time(nullptr)); }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now) : now_(now) {}
  int64_t Now() const override { return now_.load(); }
  void Advance(int64_t seconds) { now_ += seconds; }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace warden
