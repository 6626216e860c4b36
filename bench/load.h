// Closed-loop load for the API benchmarks: `clients` threads each call `op(client)` back to back
// for `seconds`; the rate of successful calls and their latency percentiles.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace warden::bench {

struct LoadResult {
  double rate = 0, p50_ms = 0, p99_ms = 0;
  uint64_t n = 0, errors = 0;
};

// Latencies of successful calls (per client) over `elapsed` seconds.
inline LoadResult Summarize(std::vector<std::vector<double>>& lat, double elapsed, uint64_t errors) {
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  LoadResult r;
  r.n = all.size();
  r.errors = errors;
  r.rate = elapsed > 0 ? all.size() / elapsed : 0;
  if (!all.empty()) {
    r.p50_ms = all[all.size() / 2];
    r.p99_ms = all[std::min(all.size() - 1, static_cast<size_t>(0.99 * all.size()))];
  }
  return r;
}

// REQUIRES: op(int client) -> bool (success), safe to call from `clients` threads at once.
template <typename Op>
LoadResult RunLoad(int clients, double seconds, Op op) {
  using Steady = std::chrono::steady_clock;
  std::vector<std::vector<double>> lat(clients);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> errors{0};
  std::vector<std::thread> threads;
  const auto start = Steady::now();
  for (int i = 0; i < clients; i++) {
    threads.emplace_back([&, i] {
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0 = Steady::now();
        const bool ok = op(i);
        const double ms = std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
        if (ok) {
          lat[i].push_back(ms);
        } else {
          errors++;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  return Summarize(lat, std::chrono::duration<double>(Steady::now() - start).count(), errors);
}

}  // namespace warden::bench
