// The service watchdog pings systemd only while every registered loop turns: a stuck loop stops
// the pings (and systemd restarts the service), a loop that turns again resumes them.
#include "common/service_watchdog.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace warden {
namespace {

std::atomic<int> pings{0};
void CountPing(const char* state) {
  if (std::string(state) == "WATCHDOG=1") pings++;
}

TEST(ServiceWatchdog, APingIsSentOnlyWhileEveryLoopTurns) {
  pings = 0;
  ServiceWatchdog w("test", 200'000, CountPing);  // 200 ms: pings every 100 ms
  Heartbeat& a = w.Register("agent socket");
  Heartbeat& b = w.Register("lease enforcer");
  std::atomic<bool> stop{false}, b_stuck{false};
  std::thread loops([&] {
    while (!stop) {
      a.Beat();
      if (!b_stuck) b.Beat();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  std::thread run([&] { w.Run(stop); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_GE(pings.load(), 3) << "both loops turn: pinged";
  EXPECT_EQ(w.Stale(), "");

  b_stuck = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // past the interval
  EXPECT_EQ(w.Stale(), "lease enforcer");
  const int while_stuck = pings.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(pings.load(), while_stuck) << "a stuck loop must stop the pings";

  b_stuck = false;
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_GT(pings.load(), while_stuck) << "the loop turns again: pings resume";
  stop = true;
  loops.join();
  run.join();
}

TEST(ServiceWatchdog, OutsideSystemdItIsDisabledAndRunReturnsAtOnce) {
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  ServiceWatchdog w("test");
  EXPECT_FALSE(w.enabled());
  std::atomic<bool> stop{false};
  w.Run(stop);  // returns without stop being set
}

TEST(ServiceWatchdog, TheIntervalSystemdSetsForThisProcessEnablesIt) {
  setenv("WATCHDOG_USEC", "30000000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  ServiceWatchdog w("test");
  EXPECT_TRUE(w.enabled());
  EXPECT_EQ(w.interval_us(), 30'000'000);
  // Another process's interval (a child that inherited the environment) is not ours.
  setenv("WATCHDOG_PID", "1", 1);
  EXPECT_FALSE(ServiceWatchdog("test").enabled());
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
}

TEST(Heartbeat, StartsWhenItFirstBeats) {
  Heartbeat h("accept");
  EXPECT_FALSE(h.started());
  h.Beat();
  EXPECT_TRUE(h.started());
}

}  // namespace
}  // namespace warden
