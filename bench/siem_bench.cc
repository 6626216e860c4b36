// SIEM forwarding and detection benchmark. In one run, side by side:
//   - appending audit events (what every API call does twice) with forwarding and detection
//     off, then on: events/s and the ratio (sinks follow the log file; they must not slow it);
//   - throughput: a burst of events, and how fast they reach rsyslog-style TCP syslog (octet
//     counted, received in this process), a file sink, and the detection rules (every kind on);
//   - lag at a steady 10,000 events/s: from each event's append to its arrival at the syslog
//     receiver, p50 / p99 / max.
// The controller runs in this process with its real SoftHSM2 token and audit log.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "controller/alerts/audit_tail.h"
#include "tests/api_client.h"

namespace warden {
namespace {

using Steady = std::chrono::steady_clock;
using nlohmann::json;

double Now() { return std::chrono::duration<double>(Steady::now().time_since_epoch()).count(); }

// A syslog collector over TCP: octet-counted frames; notes when each seq arrived.
class Receiver {
 public:
  Receiver() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 4);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    arrived_.assign(4'000'000, 0);
    thread_ = std::thread([this] { Run(); });
  }
  ~Receiver() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  uint64_t highest() const { return highest_.load(); }
  double ArrivedAt(uint64_t seq) const { return seq < arrived_.size() ? arrived_[seq] : 0; }

 private:
  void Run() {
    for (;;) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string buf;
      char chunk[1 << 16];
      for (ssize_t n; (n = read(c, chunk, sizeof chunk)) > 0;) {
        buf.append(chunk, static_cast<size_t>(n));
        size_t pos = 0;
        for (;;) {
          const size_t sp = buf.find(' ', pos);
          if (sp == std::string::npos) break;
          const size_t len = std::stoul(buf.substr(pos, sp - pos));
          if (buf.size() < sp + 1 + len) break;
          std::string_view msg(buf.data() + sp + 1, len);
          const size_t at = msg.find("\"seq\":");
          if (at != std::string_view::npos) {
            const uint64_t seq = std::strtoull(msg.data() + at + 6, nullptr, 10);
            if (seq < arrived_.size() && arrived_[seq] == 0) arrived_[seq] = Now();
            if (seq > highest_) highest_ = seq;
          }
          pos = sp + 1 + len;
        }
        buf.erase(0, pos);
      }
      close(c);
    }
  }
  int fd_ = -1, port_ = 0;
  std::vector<double> arrived_;
  std::atomic<uint64_t> highest_{0};
  std::thread thread_;
};

// Events as API calls write them: a request, an approval, a listing (intent and outcome each).
json Event(uint64_t i) {
  static const char* kCalls[] = {"AccessService.CreateRequest", "AccessService.ApproveRequest",
                                 "AccessService.ListRequests"};
  const char* call = kCalls[(i / 2) % 3];
  const std::string user = (i / 6) % 2 ? "alice" : "bob";
  if (i % 2 == 0)
    return {{"type", "intent"}, {"call", call}, {"actor", user}, {"peer", "ipv4:127.0.0.1:4242"},
            {"args", {{"role", "tier0-linux-admin"}, {"id", "req-" + std::to_string(i / 6)}}}};
  return {{"type", "outcome"}, {"call", call}, {"actor", user}, {"code", "OK"},
          {"result", {{"id", "req-" + std::to_string(i / 6)}, {"state", "pending"}, {"grant", ""}}}};
}

uint64_t CursorSeq(const std::string& path) {
  auto c = LoadCursor(path);
  return c.ok() ? c->seq : 0;
}

}  // namespace
}  // namespace warden

int main(int argc, char** argv) {
  using namespace warden;
  ConfigureServerProcess();
  const uint64_t burst = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  const int steady_seconds = argc > 2 ? std::atoi(argv[2]) : 10;
  Receiver rx;
  const std::string file_sink = "/tmp/warden-siem-bench." + std::to_string(getpid()) + ".jsonl";
  testing::ControllerHarness h;
  absl::Status st = h.Start(1000, [&](const std::string& policy) {
    std::ofstream(policy, std::ios::app)
        << "siem:\n  sinks:\n"
        << "    soc: {type: syslog, address: \"127.0.0.1:" << rx.port() << "\"}\n"
        << "    archive: {type: file, path: " << file_sink << "}\n"
        << "  lag_alert_events: 1000000\n"
        << "detections:\n  change_windows: windows.yaml\n  rules:\n"
        << "    - {name: w, kind: outside_change_window, tiers: [0]}\n"
        << "    - {name: c, kind: approval_chain}\n"
        << "    - {name: x, kind: command_watch, commands: [visudo]}\n"
        << "    - {name: b, kind: reconcile_break}\n    - {name: g, kind: recording_gap}\n"
        << "    - {name: r, kind: redaction_limit}\n    - {name: t, kind: cross_tier}\n";
    std::ofstream(std::filesystem::path(policy).parent_path() / "windows.yaml") << "windows: []\n";
  });
  if (!st.ok()) {
    std::cerr << "setup failed: " << st.message() << "\n";
    return 1;
  }
  Controller& c = h.controller();
  const std::string data = h.dir() / "data";
  AuditLog& audit = c.audit();

  auto append = [&](uint64_t n, uint64_t from) {
    const auto t0 = Steady::now();
    for (uint64_t i = 0; i < n; i++) {
      if (!audit.Append(Event(from + i)).ok()) {
        std::cerr << "append failed\n";
        std::exit(1);
      }
    }
    return n / std::chrono::duration<double>(Steady::now() - t0).count();
  };
  std::printf("%-62s %12s\n", "audit events appended (the API's own writes)", "events/s");
  const double off = append(burst / 4, 0);
  std::printf("%-62s %12.0f\n", "  forwarding and detection off", off);
  if (auto s = c.StartAnalytics(); !s.ok()) {
    std::cerr << "analytics: " << s.message() << "\n";
    return 1;
  }
  // Let the sinks catch up with what is there before timing.
  while (rx.highest() < audit.LastSeq()) std::this_thread::sleep_for(std::chrono::milliseconds(20));

  const uint64_t base = audit.LastSeq();
  const auto t0 = Steady::now();
  const double on = append(burst, base);
  const double appended_s = std::chrono::duration<double>(Steady::now() - t0).count();
  std::printf("%-62s %12.0f\n", "  forwarding (syslog TCP + file) and 7 rules on", on);
  std::printf("%-62s %12.2f\n", "  ratio on/off (1.00: sinks cost the API nothing)", on / off);

  const uint64_t head = audit.LastSeq();
  double syslog_s = 0, file_s = 0, rules_s = 0;
  for (;;) {
    const double t = std::chrono::duration<double>(Steady::now() - t0).count();
    if (!syslog_s && rx.highest() >= head) syslog_s = t;
    if (!file_s && CursorSeq(data + "/siem/archive.cursor") >= head) file_s = t;
    if (!rules_s && CursorSeq(data + "/siem/detections.cursor") >= head) rules_s = t;
    if (syslog_s && file_s && rules_s) break;
    if (t > 300) {
      std::cerr << "sinks did not catch up in 300 s\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const std::string title = "a burst of " + std::to_string(burst) + " events (appended in " +
                            std::to_string(static_cast<int>(appended_s * 1000)) + " ms): done after";
  std::printf("\n%-62s %12s\n", title.c_str(), "events/s");
  std::printf("%-62s %12.0f\n", ("  syslog over TCP: " + std::to_string(static_cast<int>(syslog_s * 1000)) + " ms").c_str(), burst / syslog_s);
  std::printf("%-62s %12.0f\n", ("  file (fdatasync per batch): " + std::to_string(static_cast<int>(file_s * 1000)) + " ms").c_str(), burst / file_s);
  std::printf("%-62s %12.0f\n", ("  detection rules: " + std::to_string(static_cast<int>(rules_s * 1000)) + " ms").c_str(), burst / rules_s);

  // Steady 10,000 events/s: each event's lag from append to the syslog receiver.
  const uint64_t rate = 10000, total = rate * static_cast<uint64_t>(steady_seconds);
  std::vector<std::pair<uint64_t, double>> appended;
  appended.reserve(total);
  const auto start = Steady::now();
  for (uint64_t i = 0; i < total; i++) {
    std::this_thread::sleep_until(start + std::chrono::microseconds(i * 1000000 / rate));
    auto seq = audit.Append(Event(i));
    if (!seq.ok()) return 1;
    appended.emplace_back(*seq, Now());
  }
  while (rx.highest() < appended.back().first) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::vector<double> lag;
  for (const auto& [seq, at] : appended) lag.push_back((rx.ArrivedAt(seq) - at) * 1000);
  std::sort(lag.begin(), lag.end());
  std::printf("\n%-62s %12s\n", ("lag at 10,000 events/s for " + std::to_string(steady_seconds) + " s, append to syslog receiver").c_str(), "ms");
  std::printf("%-62s %12.1f\n", "  p50", lag[lag.size() / 2]);
  std::printf("%-62s %12.1f\n", "  p99", lag[lag.size() * 99 / 100]);
  std::printf("%-62s %12.1f\n", "  max", lag.back());
  c.StopAnalytics();
  unlink(file_sink.c_str());
  return 0;
}
