#include "controller/api/access_convert.h"

namespace warden {

void ToProto(const RequestView& v, v1::AccessRequest* out) {
  out->set_id(v.row.id);
  out->set_requester(v.row.requester);
  out->set_role(v.row.role);
  out->set_reason(v.row.reason);
  out->set_ttl_seconds(v.row.ttl);
  out->set_state(v.row.state);
  out->set_created_unix(v.row.created);
  out->set_expires_unix(v.row.expires);
  for (const auto& a : v.approvals) {
    auto* p = out->add_approvals();
    p->set_approver(a.approver);
    p->set_at_unix(a.at);
  }
  out->set_approvals_required(v.approvals_required);
  for (const auto& g : v.approver_groups) out->add_approver_groups(g);
  out->set_grant_id(v.row.grant_id);
  out->set_decided_by(v.row.decided_by);
  out->set_note(v.row.note);
}

void ToProto(const GrantView& v, v1::Grant* out) {
  out->set_id(v.row.id);
  out->set_request_id(v.row.request_id);
  out->set_user(v.row.user);
  out->set_role(v.row.role);
  out->set_login(v.row.login);
  out->set_tier(v.row.tier);
  out->set_start_unix(v.row.start);
  out->set_end_unix(v.row.end);
  out->set_state(v.state);
  out->set_revoked_unix(v.row.revoked_at);
  out->set_revoked_by(v.row.revoked_by);
  out->set_certificates(v.certificates);
}

}  // namespace warden
