// HostAgent's moderation: four-eyes sessions held until enough moderators watch, paused or ended
// when they leave, the moderator's terminate, and the hold of a session at its redaction limit.
// The agent's other half (leases, verdicts, the session registry) is host_agent.cc.
#include "daemon/host_agent.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include "common/strings.h"
#include "daemon/log.h"

namespace warden {
namespace {

std::string Moderators(uint32_t n) { return n == 1 ? "1 moderator" : StrCat(n, " moderators"); }

// How long a session held at the redaction limit waits when its account names no wait (a state
// file written before holds existed): the policy's default.
constexpr int64_t kDefaultModeratorWait = 600;

}  // namespace

void HostAgent::HoldReply(const HostSession& s, AgentReply* r) {
  r->verdict = AgentVerdict::kHold;
  r->message = StrCat("Warden: session ", s.id, " starts once ", Moderators(s.moderators_required),
                      " of its role watch it (wardenctl join ", s.id,
                      " --mode moderator); waiting up to ", s.moderator_wait, " s");
  Log(LOG_NOTICE, StrCat("session ", s.id, " waits for ", Moderators(s.moderators_required)));
}

void HostAgent::Moderate(const std::string& session_id, const SessionControl& c) {
  std::lock_guard lock(mu_);
  for (auto& [conn, s] : sessions_) {
    if (s.id == session_id) {
      ModerateLocked(conn, s, c);
      return;
    }
  }
}

void HostAgent::ModeratorsLost() {
  std::lock_guard lock(mu_);
  std::vector<int> conns;
  for (const auto& [conn, s] : sessions_) {
    if (s.moderators > 0) conns.push_back(conn);
  }
  SessionControl none;
  for (int conn : conns) {
    auto it = sessions_.find(conn);
    if (it != sessions_.end()) ModerateLocked(conn, it->second, none);
  }
}

void HostAgent::HoldForModerator(const std::string& session_id, const std::string& reason) {
  using M = HostSession::Moderation;
  std::lock_guard lock(mu_);
  auto it = std::find_if(sessions_.begin(), sessions_.end(),
                         [&](const auto& e) { return e.second.id == session_id; });
  if (it == sessions_.end()) return;  // over already
  HostSession& s = it->second;
  if (s.moderation != M::kNone) {
    // Four-eyes: watched now, or already waiting for moderators under its own rules.
    Log(LOG_NOTICE, StrCat("session ", s.id, " reached its redaction limit, already moderated (",
                           Moderators(s.moderators), " watching, ", s.moderators_required,
                           " required): it stays as it is"));
    return;
  }
  s.moderators_required = 1;
  s.pause_on_leave = true;
  if (s.moderator_wait < 1) s.moderator_wait = kDefaultModeratorWait;
  if (s.moderators >= s.moderators_required) {
    s.moderation = M::kRunning;
    Log(LOG_NOTICE, StrCat("session ", s.id, " reached its redaction limit while ",
                           Moderators(s.moderators), " watch it: it goes on, moderated"));
    return;
  }
  s.moderation = M::kPaused;
  s.redaction_hold = true;
  s.waiting_since = clock_();
  Log(LOG_NOTICE,
      StrCat("session ", s.id, " held for a moderator (redaction limit), waiting up to ",
             s.moderator_wait, " s"));
  if (observer_) {
    observer_->PauseSession(s, StrCat("Warden: this session is paused: ", reason,
                                      ". It resumes when a moderator watches it (wardenctl join ",
                                      s.id, " --mode moderator), and is ended if none does within ",
                                      s.moderator_wait, " s."));
  }
}

void HostAgent::ModerateLocked(int conn, HostSession& s, const SessionControl& c) {
  using M = HostSession::Moderation;
  if (!c.terminated_by.empty()) {
    const std::string why =
        StrCat("Warden: moderator ", c.terminated_by, " ended this session",
               c.reason.empty() ? "" : StrCat(": ", c.reason));
    Log(LOG_NOTICE, StrCat("session ", s.id, " terminated by moderator ", c.terminated_by,
                           c.reason.empty() ? "" : StrCat(" (", c.reason, ")")));
    if (s.moderation == M::kHeld) {
      RefuseHeldLocked(conn, why);
    } else if (s.moderation != M::kEnding && observer_) {
      s.moderation = M::kEnding;
      observer_->EndSession(s, why);
    }
    return;
  }
  const uint32_t before = s.moderators;
  s.moderators = c.moderators;
  if (s.moderators_required == 0 || s.moderators == before) return;
  Log(LOG_INFO, StrCat("session ", s.id, ": ", Moderators(s.moderators), " watching (",
                       s.moderators_required, " required)"));
  const bool enough = s.moderators >= s.moderators_required;
  if (s.moderation == M::kHeld && enough) {
    // The lease may have ended (or been revoked) while the login waited.
    const LocalAccount* account = nullptr;
    AgentReply verdict = Verdict(s.user, &account);
    if (!account) {
      Log(LOG_NOTICE, StrCat("held session ", s.id, " not started: ", verdict.message));
      RefuseHeldLocked(conn, verdict.message);
      return;
    }
    s.moderation = M::kRunning;
    AgentReply r;
    r.verdict = AgentVerdict::kAllow;
    r.session_id = s.id;
    ReplyLocked(conn, std::move(r));
    Log(LOG_NOTICE, StrCat("session ", s.id, " starts: ", Moderators(s.moderators), " watching"));
  } else if (s.moderation == M::kRunning && !enough) {
    if (s.pause_on_leave) {
      s.moderation = M::kPaused;
      s.waiting_since = clock_();
      observer_->PauseSession(
          s, StrCat("Warden: this session is paused: fewer than ", Moderators(s.moderators_required),
                    " watch it. It resumes when enough return (waiting up to ", s.moderator_wait,
                    " s)."));
      Log(LOG_NOTICE, StrCat("session ", s.id, " paused: its moderators left"));
    } else {
      s.moderation = M::kEnding;
      observer_->EndSession(s, "Warden: this session is being ended: its moderator left (four-eyes).");
      Log(LOG_NOTICE, StrCat("session ", s.id, " ended: its moderators left"));
    }
  } else if (s.moderation == M::kPaused && enough) {
    s.moderation = M::kRunning;
    if (std::exchange(s.redaction_hold, false)) {
      observer_->ResumeSession(s, StrCat("Warden: ", Moderators(s.moderators),
                                         " now watching; the session resumes, "
                                         "and goes on while one watches."));
      Log(LOG_NOTICE, StrCat("session ", s.id,
                             " resumed: held at its redaction limit, now "
                             "watched by ",
                             Moderators(s.moderators)));
    } else {
      observer_->ResumeSession(s, "Warden: a moderator is watching again; the session resumes.");
      Log(LOG_NOTICE, StrCat("session ", s.id, " resumed"));
    }
  }
}

void HostAgent::ReplyLocked(int conn, AgentReply r) {
  replies_.emplace_back(conn, std::move(r));
  const uint64_t one = 1;
  if (write(notify_fd_, &one, sizeof one) < 0) Log(LOG_ERR, "agent: cannot wake the socket loop");
}

void HostAgent::RefuseHeldLocked(int conn, const std::string& why) {
  auto it = sessions_.find(conn);
  if (it == sessions_.end()) return;
  AgentReply r;
  r.verdict = AgentVerdict::kDeny;
  r.message = why;
  ReplyLocked(conn, std::move(r));
  if (observer_) observer_->SessionEnded(it->second);
  // As for any refused session: sshd would go on without PAM's session, so its monitor ends.
  const pid_t root = it->second.root;
  if (root > 1 && root != getpid()) kill(root, SIGTERM);
  sessions_.erase(it);
}

void HostAgent::EnforceModerationLocked(int64_t now) {
  using M = HostSession::Moderation;
  std::vector<int> refuse;
  for (auto& [conn, s] : sessions_) {
    if ((s.moderation != M::kHeld && s.moderation != M::kPaused) ||
        now - s.waiting_since < s.moderator_wait)
      continue;
    if (s.moderation == M::kHeld) {
      refuse.push_back(conn);
      continue;
    }
    s.moderation = M::kEnding;
    if (s.redaction_hold) {
      Log(LOG_NOTICE, StrCat("session ", s.id,
                             " ended: held at its redaction limit, and no "
                             "moderator joined within ",
                             s.moderator_wait, " s"));
      observer_->EndSession(s, StrCat("Warden: this session is being ended: it was held for a "
                                      "moderator, and none joined within ",
                                      s.moderator_wait, " s."));
      continue;
    }
    Log(LOG_NOTICE, StrCat("session ", s.id, " ended: no moderator returned within ",
                           s.moderator_wait, " s"));
    observer_->EndSession(s, StrCat("Warden: this session is being ended: no moderator returned within ",
                                    s.moderator_wait, " s."));
  }
  for (int conn : refuse) {
    Log(LOG_NOTICE, StrCat("session ", sessions_[conn].id, " not started: no moderator joined within ",
                           sessions_[conn].moderator_wait, " s"));
    RefuseHeldLocked(conn, StrCat("Warden: no moderator joined within ",
                                  sessions_[conn].moderator_wait, " s; the session was not started"));
  }
}

std::vector<std::pair<int, AgentReply>> HostAgent::TakeReplies() {
  std::lock_guard lock(mu_);
  uint64_t n;
  while (read(notify_fd_, &n, sizeof n) > 0) {
  }
  return std::exchange(replies_, {});
}

void HostAgent::RefuseHeldOfEndedLocked() {
  std::vector<std::pair<int, std::string>> refuse;
  for (const auto& [conn, s] : sessions_) {
    if (s.moderation != HostSession::Moderation::kHeld) continue;
    const LocalAccount* account = nullptr;
    AgentReply v = Verdict(s.user, &account);
    if (!account) refuse.emplace_back(conn, v.message);
  }
  for (const auto& [conn, why] : refuse) {
    Log(LOG_NOTICE, StrCat("held session ", sessions_[conn].id, " not started: ", why));
    RefuseHeldLocked(conn, why);
  }
}

}  // namespace warden
