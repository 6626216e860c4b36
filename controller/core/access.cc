#include "controller/core/access.h"

#include "common/strings.h"
#include "common/crypto.h"
#include "common/totp.h"

namespace warden {
namespace {

constexpr size_t kMaxReason = 1024;

bool Printable(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace


uint64_t ChangeFeed::Subscribe(Listener fn) {
  std::lock_guard lock(mu_);
  listeners_.emplace(next_, std::move(fn));
  return next_++;
}

void ChangeFeed::Unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  listeners_.erase(id);
}

void ChangeFeed::Publish() {
  std::lock_guard lock(mu_);
  for (auto& [id, fn] : listeners_) fn();
}

absl::StatusOr<uint32_t> AccessCore::NextAccountId() {
  ASSIGN_OR_RETURN(int64_t n, store_.BumpCounter("account_id"));
  if (n > policy_->account_id_count) {
    return absl::ResourceExhaustedError(StrCat(
        "the account id range ", policy_->account_id_first, "+", policy_->account_id_count,
        " is used up (ids are never reused); extend account_ids in the policy"));
  }
  return static_cast<uint32_t>(policy_->account_id_first + n - 1);
}

absl::StatusOr<RequestView> AccessCore::Load(std::string_view id) {
  ASSIGN_OR_RETURN(std::optional<RequestRow> row, store_.GetRequest(id));
  if (!row) return absl::NotFoundError(StrCat("no access request \"", id, "\""));
  RequestView v;
  v.row = std::move(*row);
  if (v.row.state == "pending" && clock_.Now() >= v.row.expires) v.row.state = "expired";
  ASSIGN_OR_RETURN(v.approvals, store_.ListApprovals(id));
  auto role = policy_->FindRole(v.row.role);
  if (role.ok()) {
    v.approvals_required = (*role)->approvals_required;
    v.approver_groups = (*role)->approver_groups;
  }
  return v;
}

absl::StatusOr<RequestView> AccessCore::Create(const Identity& who, std::string_view role_name,
                                               std::string_view reason, int64_t ttl) {
  ASSIGN_OR_RETURN(const Role* role, policy_->FindRole(role_name));
  if (!role->requester_groups.empty() && !policy_->InAnyGroup(who.user, role->requester_groups)) {
    return absl::PermissionDeniedError(StrCat(
        "you may not request role ", role->name, "; it is open to members of: ",
        StrJoin(role->requester_groups, ", ")));
  }
  if (reason.empty()) {
    return absl::InvalidArgumentError("a reason is required (e.g. a change ticket: --reason CHG-1234)");
  }
  if (reason.size() > kMaxReason || !Printable(reason)) {
    return absl::InvalidArgumentError(StrCat("reason must be printable text of at most ",
                                                   kMaxReason, " characters"));
  }
  if (ttl < 0) return absl::InvalidArgumentError("ttl must be positive");
  RequestRow r;
  if (ttl == 0) {
    ttl = role->max_ttl;
  } else if (ttl > role->max_ttl) {
    r.note = StrCat("ttl ", FormatDuration(ttl), " clamped to the role's max_ttl ",
                          FormatDuration(role->max_ttl));
    ttl = role->max_ttl;
  }
  r.id = "req-" + RandomId(8);
  r.requester = who.user;
  r.role = role->name;
  r.reason = std::string(reason);
  r.ttl = ttl;
  r.state = "pending";
  r.created = clock_.Now();
  r.expires = r.created + policy_->request_ttl;
  RETURN_IF_ERROR(store_.InsertRequest(r));
  return Load(r.id);
}

absl::StatusOr<RequestView> AccessCore::Get(const Identity&, std::string_view id) {
  return Load(id);
}

absl::StatusOr<std::vector<RequestView>> AccessCore::List(const Identity&, bool all) {
  ASSIGN_OR_RETURN(std::vector<RequestRow> rows, store_.ListRequests(!all));
  std::vector<RequestView> out;
  for (const auto& r : rows) {
    ASSIGN_OR_RETURN(RequestView v, Load(r.id));
    if (!all && v.row.state != "pending") continue;
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<RequestRow> AccessCore::LoadForReview(const Identity& who, std::string_view id,
                                                     const Role** role) {
  ASSIGN_OR_RETURN(RequestView v, Load(id));
  // Who is reviewing first; the request's state only to someone who may review it.
  ASSIGN_OR_RETURN(*role, policy_->FindRole(v.row.role));
  if (v.row.requester == who.user) {
    return absl::PermissionDeniedError(
        "you cannot review your own request; it needs approvers other than the requester");
  }
  if (!policy_->InAnyGroup(who.user, (*role)->approver_groups)) {
    return absl::PermissionDeniedError(StrCat(
        "you are not an approver for role ", (*role)->name, "; approvers are members of: ",
        StrJoin((*role)->approver_groups, ", ")));
  }
  if (v.row.state == "expired") {
    return absl::FailedPreconditionError(StrCat(
        "request ", id, " expired unapproved; the requester must file a new one"));
  }
  if (v.row.state != "pending") {
    return absl::FailedPreconditionError(StrCat("request ", id, " is already ", v.row.state));
  }
  return v.row;
}

absl::StatusOr<RequestView> AccessCore::Approve(const Identity& who, std::string_view id) {
  bool granted = false;
  {
    ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
    const Role* role = nullptr;
    ASSIGN_OR_RETURN(RequestRow r, LoadForReview(who, id, &role));
    const int64_t now = clock_.Now();
    ASSIGN_OR_RETURN(bool added, store_.AddApproval(id, who.user, now));
    if (added) {
      ASSIGN_OR_RETURN(std::vector<ApprovalRow> approvals, store_.ListApprovals(id));
      // Count distinct approvers who are still eligible under the current policy.
      int eligible = 0;
      for (const auto& a : approvals) {
        if (a.approver != r.requester && policy_->InAnyGroup(a.approver, role->approver_groups)) {
          eligible++;
        }
      }
      if (eligible >= role->approvals_required) {
        ASSIGN_OR_RETURN(std::string base, RenderLogin(*role, r.requester));
        GrantRow g;
        g.request_id = r.id;
        g.user = r.requester;
        g.role = role->name;
        g.tier = role->tier;
        g.start = now;
        g.end = now + r.ttl;
        for (int attempt = 0; attempt < 16 && g.login.empty(); attempt++) {
          const std::string suffix = RandomId(4);
          ASSIGN_OR_RETURN(bool used, store_.LoginInUse(base + "-" + suffix));
          if (!used) {
            g.id = "g-" + suffix + RandomId(6);
            g.login = base + "-" + suffix;
          }
        }
        if (g.login.empty()) return absl::ResourceExhaustedError("cannot allocate a login name");
        ASSIGN_OR_RETURN(g.uid, NextAccountId());
        for (const auto& group : role->account_groups) {
          RETURN_IF_ERROR(store_.GroupGid(group, [this] { return NextAccountId(); }).status());
        }
        RETURN_IF_ERROR(store_.InsertGrant(g));
        RETURN_IF_ERROR(store_.BumpCounter(kHostStateCounter).status());
        granted = true;
        r.state = "approved";
        r.grant_id = g.id;
        r.decided_by = who.user;
        RETURN_IF_ERROR(store_.UpdateRequest(r));
      }
    }
    RETURN_IF_ERROR(tx.Commit());
  }
  if (granted) changes_.Publish();
  return Load(id);
}

absl::StatusOr<RequestView> AccessCore::Deny(const Identity& who, std::string_view id) {
  {
    ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
    const Role* role = nullptr;
    ASSIGN_OR_RETURN(RequestRow r, LoadForReview(who, id, &role));
    r.state = "denied";
    r.decided_by = who.user;
    RETURN_IF_ERROR(store_.UpdateRequest(r));
    RETURN_IF_ERROR(tx.Commit());
  }
  return Load(id);
}

absl::StatusOr<RequestView> AccessCore::Cancel(const Identity& who, std::string_view id) {
  {
    ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
    ASSIGN_OR_RETURN(RequestView v, Load(id));
    if (v.row.requester != who.user) {
      return absl::PermissionDeniedError("only the requester can cancel a request");
    }
    if (v.row.state != "pending") {
      return absl::FailedPreconditionError(StrCat("request ", id, " is already ", v.row.state));
    }
    v.row.state = "cancelled";
    v.row.decided_by = who.user;
    RETURN_IF_ERROR(store_.UpdateRequest(v.row));
    RETURN_IF_ERROR(tx.Commit());
  }
  return Load(id);
}

std::string AccessCore::StateOf(const GrantRow& g) const {
  return g.revoked_at ? "revoked" : clock_.Now() >= g.end ? "expired" : "active";
}

GrantView AccessCore::ViewOf(GrantRow g) {
  GrantView v;
  v.state = StateOf(g);
  v.certificates = store_.CountCerts(g.id).value_or(0);
  v.row = std::move(g);
  return v;
}

absl::StatusOr<std::vector<GrantView>> AccessCore::ListGrants(const Identity& who, bool all) {
  ASSIGN_OR_RETURN(std::vector<GrantRow> rows, store_.ListGrants());
  std::vector<GrantView> out;
  const bool admin = policy_->IsAdmin(who.user);
  for (auto& g : rows) {
    auto role = policy_->FindRole(g.role);
    const bool approver = role.ok() && policy_->InAnyGroup(who.user, (*role)->approver_groups);
    if (g.user != who.user && !(all && (admin || approver))) continue;
    GrantView v = ViewOf(std::move(g));
    if (!all && v.state != "active") continue;
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<GrantView> AccessCore::GetGrant(std::string_view id) {
  ASSIGN_OR_RETURN(std::optional<GrantRow> g, store_.GetGrant(id));
  if (!g) return absl::NotFoundError(StrCat("no grant \"", id, "\""));
  return ViewOf(std::move(*g));
}

absl::StatusOr<GrantView> AccessCore::Revoke(const Identity& who, std::string_view id) {
  {
    ASSIGN_OR_RETURN(Transaction tx, store_.Begin());
    ASSIGN_OR_RETURN(std::optional<GrantRow> g, store_.GetGrant(id));
    const absl::Status denied = absl::PermissionDeniedError(
        "only the grant's owner, an approver of its role or an admin can revoke it");
    if (!g) {
      // Only someone who could revoke others' grants learns that this one does not exist.
      bool approver_of_any = policy_->IsAdmin(who.user);
      for (const auto& [name, role] : policy_->roles)
        approver_of_any = approver_of_any || policy_->InAnyGroup(who.user, role.approver_groups);
      if (!approver_of_any) return denied;
      return absl::NotFoundError(StrCat("no grant \"", id, "\""));
    }
    auto role = policy_->FindRole(g->role);
    const bool approver = role.ok() && policy_->InAnyGroup(who.user, (*role)->approver_groups);
    if (g->user != who.user && !approver && !policy_->IsAdmin(who.user)) return denied;
    if (g->revoked_at) {
      return absl::FailedPreconditionError(StrCat("grant ", id, " is already revoked"));
    }
    RETURN_IF_ERROR(store_.RevokeGrant(id, clock_.Now(), who.user));
    RETURN_IF_ERROR(store_.BumpCounter("krl_version").status());
    RETURN_IF_ERROR(store_.BumpCounter(kHostStateCounter).status());
    RETURN_IF_ERROR(tx.Commit());
  }
  changes_.Publish();
  return GetGrant(id);
}

absl::StatusOr<GrantRow> AccessCore::UsableGrant(const Identity& who, std::string_view id) {
  // On the issuance hot path: one primary-key lookup, no certificate count.
  ASSIGN_OR_RETURN(std::optional<GrantRow> g, store_.GetGrant(id));
  // One answer for a grant that does not exist and another user's: no probing of grant ids.
  if (!g || g->user != who.user) {
    return absl::PermissionDeniedError(StrCat(
        who.user, " holds no grant \"", id,
        "\" (it does not exist or belongs to another user); wardenctl grants lists yours"));
  }
  const std::string state = StateOf(*g);
  if (state != "active") {
    return absl::FailedPreconditionError(StrCat("grant ", id, " is ", state,
                                                "; request access again"));
  }
  return *g;
}

}  // namespace warden
