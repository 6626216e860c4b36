#include "controller/api/vault_convert.h"

namespace warden {

void ToProto(const VaultStatus& st, v1::VaultStatus* out) {
  out->set_initialized(st.initialized);
  out->set_sealed(st.sealed);
  out->set_seal(st.mode);
  out->set_shares(st.shares);
  out->set_threshold(st.threshold);
  out->set_progress(st.progress);
}
void ToProto(const WrapInfo& w, v1::WrapInfo* out) {
  out->set_accessor(w.accessor);
  out->set_path(w.path);
  out->set_version(w.version);
  out->set_requester(w.requester);
  out->set_created_unix(w.created);
  out->set_expires_unix(w.expires);
  out->set_approvals_required(w.approvals_required);
  for (const auto& a : w.approvals) {
    v1::Authorization* pa = out->add_approvals();
    pa->set_approver(a.approver);
    pa->set_at_unix(a.at);
    pa->set_reason(a.reason);
  }
  out->set_unwrapped(w.unwrapped);
  out->set_checkout(w.checkout);
}

void ToProto(const SecretRead& r, v1::GetSecretResponse* out) {
  out->set_version(r.version);
  out->set_checked_out_until_unix(r.checked_out_until);
  if (!r.token.empty()) {
    out->set_wrapping_token(r.token);
    ToProto(r.wrap, out->mutable_wrap());
  } else {
    out->set_value(r.value.data(), r.value.size());
  }
}

void ToProto(const ReconcileResult& r, v1::ReconcileResult* out) {
  out->set_path(r.path);
  out->set_outcome(r.outcome);
  out->set_detail(r.detail);
}

void ToProto(const RotationStatus& s, v1::RotationTarget* out) {
  out->set_path(s.row.path);
  out->set_kind(s.kind);
  out->set_status(s.row.status);
  out->set_drifted_since_unix(s.row.drifted_since);
  out->set_last_rotated_unix(s.row.last_rotated);
  out->set_next_rotation_unix(s.row.next_rotation);
  out->set_last_reconciled_unix(s.row.last_reconciled);
  out->set_next_reconcile_unix(s.row.next_reconcile);
  out->set_failures(s.row.failures);
  out->set_next_attempt_unix(s.row.next_attempt);
  out->set_last_error(s.row.last_error);
  out->set_pending_since_unix(s.row.pending_since);
  out->set_version(s.version);
  out->set_period_seconds(s.period);
  out->set_reconcile_every_seconds(s.reconcile_every);
}

}  // namespace warden
