#include "controller/metrics.h"

#include <httplib.h>

#include <ctime>

#include "common/strings.h"
#include "controller/controller.h"

namespace warden {
namespace {

// A label value: backslash, double quote and newline escaped.
std::string Label(std::string_view v) {
  std::string out;
  for (char ch : v) {
    if (ch == '\\' || ch == '"') out += '\\';
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out += ch;
  }
  return out;
}

void Header(std::string& out, const char* name, const char* type, const char* help) {
  out += StrCat("# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

}  // namespace

void Metrics::Count(const AuditLog::Written& w) {
  std::lock_guard lock(mu_);
  if (!w.call.empty()) calls_[{w.call, w.code}]++;
  if (!w.event.empty()) events_[w.event]++;
  if (w.alert) alerts_[{w.alert_name, w.severity}]++;
}

std::string Metrics::Render(Controller& c) {
  std::string out;
  {
    std::lock_guard lock(mu_);
    Header(out, "warden_api_requests_total", "counter", "API calls by outcome");
    for (const auto& [k, n] : calls_)
      out += StrCat("warden_api_requests_total{call=\"", Label(k.first), "\",code=\"",
                    Label(k.second), "\"} ", n, "\n");
    Header(out, "warden_audit_events_total", "counter", "Domain events written to the audit log");
    for (const auto& [k, n] : events_)
      out += StrCat("warden_audit_events_total{event=\"", Label(k), "\"} ", n, "\n");
    Header(out, "warden_alerts_total", "counter", "Alerts written, by rule or event");
    for (const auto& [k, n] : alerts_)
      out += StrCat("warden_alerts_total{name=\"", Label(k.first), "\",severity=\"",
                    Label(k.second), "\"} ", n, "\n");
  }
  Header(out, "warden_audit_last_seq", "gauge", "The audit log's last line");
  out += StrCat("warden_audit_last_seq ", c.audit().LastSeq(), "\n");
  if (auto live = c.grants_live(static_cast<int64_t>(time(nullptr))); live.ok()) {
    Header(out, "warden_grants_active", "gauge", "Grants live now");
    out += StrCat("warden_grants_active ", *live, "\n");
  }
  const std::vector<SiemSinkStats> sinks = c.siem().Stats();
  if (!sinks.empty()) {
    Header(out, "warden_siem_sink_behind_events", "gauge", "Events the sink does not have yet");
    for (const auto& s : sinks)
      out += StrCat("warden_siem_sink_behind_events{sink=\"", Label(s.name), "\"} ", s.behind, "\n");
    Header(out, "warden_siem_sink_sent_total", "counter", "Events sent to the sink");
    for (const auto& s : sinks)
      out += StrCat("warden_siem_sink_sent_total{sink=\"", Label(s.name), "\"} ", s.sent, "\n");
    Header(out, "warden_siem_sink_failures_total", "counter", "Failed attempts to send");
    for (const auto& s : sinks)
      out += StrCat("warden_siem_sink_failures_total{sink=\"", Label(s.name), "\"} ", s.failures, "\n");
    Header(out, "warden_siem_sink_up", "gauge", "1 while the sink's last attempt succeeded");
    for (const auto& s : sinks)
      out += StrCat("warden_siem_sink_up{sink=\"", Label(s.name), "\"} ", s.last_error.empty() ? 1 : 0, "\n");
  }
  return out;
}

MetricsServer::MetricsServer(Controller& c) : c_(c) {}

MetricsServer::~MetricsServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

absl::Status MetricsServer::Start(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos)
    return absl::InvalidArgumentError(StrCat("metrics.listen must be HOST:PORT, not \"", listen, "\""));
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const int port = std::atoi(listen.c_str() + colon + 1);
  server_ = std::make_unique<httplib::Server>();
  server_->set_read_timeout(5, 0);
  server_->set_write_timeout(5, 0);
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(c_.metrics().Render(c_), "text/plain; version=0.0.4");
  });
  port_ = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (port_ <= 0)
    return absl::UnavailableError(StrCat("metrics: cannot listen on ", listen));
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

}  // namespace warden
