// Detection: the policy's rules (analytics_policy.h, `detections:`) evaluated on the audit event
// stream and on the programs sessions run. What a rule finds becomes an alert: an audit event
//   {"event": "alert", "alert": true, "rule": NAME, "kind": KIND, "severity": ...,
//    "summary": "...", "evidence": {"events": [SEQ...], "session": ID, "offset": "HH:MM:SS", ...}}
// which the controller pages (alerts/alert_forwarder.h), forwards to every SIEM sink and lists
// in `wardenctl alerts`.
//
// Kinds:
//   outside_change_window  a grant of a role of `tiers` approved at a time no change window of
//                          its tier covers (windows: ParseChangeWindows)
//   reconcile_break        a vaulted credential no longer authenticates (vault.reconcile_break)
//   recording_gap          a session sealed with bytes lost, or flagged by its host
//   approval_chain         an operator who tries to approve their own request, or two operators
//                          who approve each other's requests `within` of each other
//   command_watch          a recorded session ran one of `commands` or named one of `paths`
//   redaction_limit        a session typed more hidden (echo-off) lines than its role allows
//   cross_tier             a credential of one tier tried at a gateway of another
//   break_glass_login      a host's login records show a login of one of its break-glass
//                          accounts (host.login, kind break_glass; coverage.h)
//   bypass_login           ... a login of another privileged account that did not go through
//                          Warden (host.login, kind bypass)
// outside_change_window also covers check-outs of the vault paths its rule lists (`checkouts`).
//
// Thread-safe. Events must be observed in audit order (seq); replaying the log from its start
// after a restart rebuilds the state the stateful kinds keep (requests, recent approvals).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "controller/core/analytics_policy.h"
#include "controller/core/policy.h"

namespace warden {

struct DetectedAlert {
  const DetectionRule* rule = nullptr;
  std::string summary;
  nlohmann::json evidence;

  // The audit event the alert becomes.
  nlohmann::json ToEvent() const;
};

class Detector {
 public:
  explicit Detector(const Policy& policy) : policy_(policy) {}

  bool empty() const { return policy_.detections.rules.empty(); }
  void SetChangeWindows(std::vector<ChangeWindow> windows);

  // One audit event as the log holds it (seq, ts, ...): the alerts it raises.
  std::vector<DetectedAlert> Observe(const nlohmann::json& event);

  // A program (the file the kernel ran, and its command line) a recorded session of `account`
  // (the grant of operator `user`) ran, `offset_ns` into it. At most a few alerts per session
  // and rule: the last one says that further matches are not alerted.
  std::vector<DetectedAlert> ObserveCommand(std::string_view session, std::string_view host,
                                            std::string_view user, std::string_view account,
                                            int64_t offset_ns, std::string_view filename,
                                            std::string_view command);

 private:
  struct Request {
    std::string requester, role;
    uint64_t seq = 0;
  };
  struct Approval {
    std::string approver, requester, request;
    int64_t at = 0;
    uint64_t seq = 0;
  };
  void ObserveLocked(const nlohmann::json& event, std::vector<DetectedAlert>& out);
  void OnGrant(const nlohmann::json& event, const Request& r, std::vector<DetectedAlert>& out);
  void OnCheckout(const nlohmann::json& event, const std::string& actor, const std::string& path,
                  uint64_t intent_seq, std::vector<DetectedAlert>& out);
  void OnApproval(const nlohmann::json& event, const std::string& approver,
                  const std::string& request, std::vector<DetectedAlert>& out);
  void Fire(std::string_view kind, std::vector<DetectedAlert>& out, std::string summary,
            nlohmann::json evidence, int tier = -1);

  const Policy& policy_;
  std::mutex mu_;
  std::vector<ChangeWindow> windows_;
  std::map<uint64_t, nlohmann::json> intents_;  // the args of calls awaiting their outcome
  std::map<std::string, Request> requests_;     // request id -> who asked, for what
  std::deque<Approval> approvals_;              // the most recent, oldest first
  std::map<std::string, int64_t> chains_;       // pairs alerted (approval_chain), and when
  std::map<std::string, int> watched_;          // command_watch alerts per session and rule
};

// "2026-12-01T08:00:00Z" (an audit event's ts) as unix seconds; 0 if it is not one.
int64_t AuditTime(const nlohmann::json& event);

}  // namespace warden
