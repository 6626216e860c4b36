#include "controller/api/anonymous_gate.h"

#include <gtest/gtest.h>

namespace warden {
namespace {

using Verdict = AnonymousGate::Verdict;

class Gate : public ::testing::Test {
 protected:
  AnonymousGate Make(AnonymousCallLimits limits) {
    return AnonymousGate(limits, [this] { return now_ms_; });
  }
  int64_t now_ms_ = 1'000'000;
};

TEST_F(Gate, AdmitsABurstThenTheSustainedRate) {
  AnonymousCallLimits l;
  l.max_in_flight = 1000;
  AnonymousGate gate = Make(l);
  for (int i = 0; i < 20; i++) EXPECT_EQ(gate.Admit("10.0.0.1").verdict, Verdict::kAdmitted) << i;
  EXPECT_EQ(gate.Admit("10.0.0.1").verdict, Verdict::kRateLimited);
  // Another address has its own bucket.
  EXPECT_EQ(gate.Admit("10.0.0.2").verdict, Verdict::kAdmitted);
  now_ms_ += 100;  // 10 per second: one more call
  EXPECT_EQ(gate.Admit("10.0.0.1").verdict, Verdict::kAdmitted);
  EXPECT_EQ(gate.Admit("10.0.0.1").verdict, Verdict::kRateLimited);
  now_ms_ += 3'600'000;  // an hour idle refills the burst, no more
  for (int i = 0; i < 20; i++) EXPECT_EQ(gate.Admit("10.0.0.1").verdict, Verdict::kAdmitted) << i;
  EXPECT_EQ(gate.Admit("10.0.0.1").verdict, Verdict::kRateLimited);
}

TEST_F(Gate, CapsTheCallsInFlight) {
  AnonymousCallLimits l;
  l.max_in_flight = 2;
  AnonymousGate gate = Make(l);
  EXPECT_EQ(gate.Admit("10.0.0.1").verdict, Verdict::kAdmitted);
  EXPECT_EQ(gate.Admit("10.0.0.2").verdict, Verdict::kAdmitted);
  // Refused, and reported even while admitted calls hold every slot of theirs.
  const auto busy = gate.Admit("10.0.0.3");
  EXPECT_EQ(busy.verdict, Verdict::kBusy);
  EXPECT_EQ(busy.refused_to_report, 1u);
  EXPECT_EQ(gate.in_flight(), 2);
  gate.ReportDone();
  gate.Done();
  EXPECT_EQ(gate.Admit("10.0.0.3").verdict, Verdict::kAdmitted);
  EXPECT_EQ(AnonymousGate::Refusal(Verdict::kBusy, "10.0.0.3").code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(Gate, ReportsRefusalsOncePerAddressAndInterval) {
  AnonymousCallLimits l;
  l.burst = 1;
  l.per_second = 0.001;
  AnonymousGate gate = Make(l);
  ASSERT_EQ(gate.Admit("10.0.0.1").verdict, Verdict::kAdmitted);
  gate.Done();
  const auto first = gate.Admit("10.0.0.1");
  EXPECT_EQ(first.verdict, Verdict::kRateLimited);
  EXPECT_EQ(first.refused_to_report, 1u);
  gate.ReportDone();  // the report was written
  for (int i = 0; i < 500; i++) EXPECT_EQ(gate.Admit("10.0.0.1").refused_to_report, 0u);
  EXPECT_EQ(gate.in_flight(), 0);
  now_ms_ += l.report_interval_ms;
  const auto next = gate.Admit("10.0.0.1");
  EXPECT_EQ(next.verdict, Verdict::kRateLimited);
  EXPECT_EQ(next.refused_to_report, 501u);
  const absl::Status st = AnonymousGate::Refusal(next.verdict, "10.0.0.1");
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(st.message()).find("retry later"), std::string::npos);
}

// Reports are work on the pool too: while they are being written, more wait (and their
// counts carry over) instead of queueing.
TEST_F(Gate, ReportsInFlightAreBounded) {
  AnonymousCallLimits l;
  l.burst = 1;
  l.max_reports_in_flight = 2;
  AnonymousGate gate = Make(l);
  uint64_t reports = 0;
  for (int i = 0; i < 10; i++) {
    const std::string a = "10.0.0." + std::to_string(i);
    gate.Admit(a);
    gate.Done();
    if (gate.Admit(a).refused_to_report > 0) reports++;
  }
  EXPECT_EQ(reports, 2u);
  gate.ReportDone();
  EXPECT_EQ(gate.Admit("10.0.0.9").refused_to_report, 2u);  // its earlier refusal carried over
}

TEST_F(Gate, TheAddressTableStaysBounded) {
  AnonymousCallLimits l;
  l.max_sources = 8;
  l.max_in_flight = 1 << 30;
  AnonymousGate gate = Make(l);
  for (int i = 0; i < 5000; i++) {
    // Every address spends its whole burst, so none is forgotten for being refilled.
    const std::string a = "10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    for (int j = 0; j < 21; j++) gate.Admit(a);
    ASSERT_LE(gate.sources(), l.max_sources);
    now_ms_++;
  }
  // The newest address kept its (empty) bucket.
  EXPECT_EQ(gate.Admit("10.1.19.135").verdict, Verdict::kRateLimited);
}

TEST(GateSource, KeysByAddressAndIpv6Slash64) {
  EXPECT_EQ(AnonymousGate::SourceOf("ipv4:10.1.2.3:5555"), "10.1.2.3");
  EXPECT_EQ(AnonymousGate::SourceOf("ipv6:[2001:db8:1:2:aaaa::1]:443"), "2001:db8:1:2::/64");
  EXPECT_EQ(AnonymousGate::SourceOf("ipv6:%5B2001:db8:1:2:bbbb::9%5D:443"), "2001:db8:1:2::/64");
  EXPECT_EQ(AnonymousGate::SourceOf("ipv6:[::1]:443"), "::/64");
  EXPECT_EQ(AnonymousGate::SourceOf("unix:/run/x.sock"), "unix:/run/x.sock");
}

TEST(FieldLimits, NameTheFieldAndTheLimit) {
  EXPECT_TRUE(CheckFieldLimits({{"user", 32, 32}, {"otp", 6, 16}}).ok());
  const absl::Status st = CheckFieldLimits({{"user", 3, 32}, {"hostname", 4000, 253}});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "field hostname is 4000 bytes; at most 253 are accepted");
}

}  // namespace
}  // namespace warden
