#include "controller/api/host_convert.h"

namespace warden {

v1::HostState ToProto(const HostState& st) {
  v1::HostState m;
  m.set_revision(st.revision);
  m.set_host_id(st.host_id);
  m.set_tier(st.tier);
  for (const auto& k : st.trusted_user_ca_keys) m.add_trusted_user_ca_keys(k);
  m.set_krl(st.krl.blob.data(), st.krl.blob.size());
  m.set_krl_version(st.krl.version);
  for (const auto& a : st.accounts) {
    v1::HostAccount* pa = m.add_accounts();
    pa->set_login(a.grant.login);
    pa->set_uid(a.grant.uid);
    pa->set_gid(a.gid);
    pa->set_gecos(a.gecos);
    pa->set_home(a.home);
    pa->set_shell(a.shell);
    pa->set_expires_unix(a.grant.end);
    for (const auto& g : a.groups) pa->add_groups(g);
    pa->set_sudo_rule(a.sudo_rule);
    pa->set_recording_input(a.recording_input);
    pa->set_recording_mode(a.recording_mode);
    pa->set_max_redacted_lines(a.max_redacted_lines);
    pa->set_on_redaction_limit(a.on_redaction_limit);
    pa->set_moderators_required(static_cast<uint32_t>(a.moderators_required));
    pa->set_moderator_on_leave(a.moderator_on_leave);
    pa->set_moderator_wait_seconds(a.moderator_wait);
    pa->set_grant_id(a.grant.id);
    pa->set_user(a.grant.user);
  }
  for (const auto& g : st.groups) {
    v1::HostGroup* pg = m.add_groups();
    pg->set_name(g.name);
    pg->set_gid(g.gid);
    for (const auto& member : g.members) pg->add_members(member);
    pg->set_expires_unix(g.expires);
  }
  return m;
}

void ToProto(const CoverageReport& r, v1::CoverageResponse* out) {
  out->set_since_unix(r.since);
  out->set_now_unix(r.now);
  for (const CoverageGroup& g : r.groups) {
    v1::CoverageGroup* p = out->add_groups();
    p->set_tier(g.tier);
    p->set_group(g.group);
    p->set_hosts(g.hosts);
    p->set_gateways(g.gateways);
    p->set_hosts_reporting(g.hosts_reporting);
    p->set_privileged(g.privileged);
    p->set_zero_standing(g.zero_standing);
    p->set_sessions_recorded(g.sessions_recorded);
    p->set_sessions_with_loss(g.sessions_with_loss);
    p->set_bypass_logins(g.bypass_logins);
    p->set_break_glass_logins(g.break_glass_logins);
  }
  for (const UnmanagedAccount& u : r.unmanaged) {
    v1::UnmanagedAccount* p = out->add_unmanaged();
    p->set_host_id(u.host_id);
    p->set_hostname(u.hostname);
    p->set_group(u.group);
    p->set_tier(u.tier);
    ToProto(u.account, p->mutable_account());
    p->set_password_rotated(u.password_rotated);
    p->set_break_glass(u.break_glass);
  }
  for (const SilentHost& h : r.not_reporting) {
    v1::SilentHost* p = out->add_not_reporting();
    p->set_host_id(h.host_id);
    p->set_hostname(h.hostname);
    p->set_group(h.group);
    p->set_tier(h.tier);
    p->set_last_report_unix(h.last_report);
  }
  for (const HostProblem& h : r.problems) {
    v1::HostProblem* p = out->add_problems();
    p->set_hostname(h.hostname);
    p->set_problem(h.problem);
  }
}

}  // namespace warden
