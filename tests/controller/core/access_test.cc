#include "controller/core/access.h"

#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "tests/controller/fixture.h"

namespace warden {
namespace {

using Access = testing::CoreFixture;

TEST_F(Access, RequesterCannotApproveOwnRequest) {
  // bob is both an operator and an approver.
  auto r = access_->Create(Who("bob"), "tier0-linux-admin", "CHG-1", 0);
  ASSERT_TRUE(r.ok());
  auto st = access_->Approve(Who("bob"), r->row.id);
  ASSERT_EQ(st.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(st.status().message()).find("your own request"), std::string::npos);
  EXPECT_TRUE(access_->Get(Who("bob"), r->row.id)->approvals.empty());
}

TEST_F(Access, TwoApprovalsByOneIdentityCountOnce) {
  auto r = access_->Create(Who("alice"), "tier0-linux-admin", "CHG-1", 0);
  ASSERT_TRUE(access_->Approve(Who("bob"), r->row.id).ok());
  auto again = access_->Approve(Who("bob"), r->row.id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->approvals.size(), 1u);
  EXPECT_EQ(again->row.state, "pending");
  EXPECT_TRUE(access_->ListGrants(Who("alice"), true)->empty());
}

TEST_F(Access, SingleApproverIsInsufficientAndQuorumMakesAGrant) {
  auto r = access_->Create(Who("alice"), "tier0-linux-admin", "CHG-1", 1800);
  auto one = access_->Approve(Who("bob"), r->row.id);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->row.state, "pending");
  auto two = access_->Approve(Who("dave"), r->row.id);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->row.state, "approved");
  auto grant = access_->GetGrant(two->row.grant_id);
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(grant->state, "active");
  EXPECT_EQ(grant->row.start, clock_.Now());
  EXPECT_EQ(grant->row.end, clock_.Now() + 1800);
  EXPECT_EQ(grant->row.login.rfind("adm-alice-", 0), 0u);
  EXPECT_EQ(grant->row.login.size(), std::string("adm-alice-xxxx").size());
}

TEST_F(Access, ApproverMustBeInTheRolesGroups) {
  auto r = access_->Create(Who("alice"), "tier0-linux-admin", "CHG-1", 0);
  auto st = access_->Approve(Who("erin"), r->row.id);
  ASSERT_EQ(st.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(st.status().message()).find("approvers"), std::string::npos);
}

TEST_F(Access, UnknownRoleNamesTheRolesThatExist) {
  auto st = access_->Create(Who("alice"), "tier9-god", "x", 0);
  ASSERT_EQ(st.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(st.status().message()).find("tier0-linux-admin"), std::string::npos);
}

TEST_F(Access, OnlyRequesterGroupsMayRequest) {
  auto st = access_->Create(Who("carol"), "tier0-linux-admin", "x", 0);
  EXPECT_EQ(st.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(Access, TtlIsClampedToTheRolesMaximum) {
  auto r = access_->Create(Who("alice"), "tier0-linux-admin", "CHG-1", 24 * 3600);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->row.ttl, 4 * 3600);
  EXPECT_NE(r->row.note.find("clamped"), std::string::npos);
  auto d = access_->Create(Who("alice"), "tier0-linux-admin", "CHG-1", 0);
  EXPECT_EQ(d->row.ttl, 4 * 3600);
  EXPECT_FALSE(access_->Create(Who("alice"), "tier0-linux-admin", "CHG-1", -5).ok());
}

TEST_F(Access, PendingRequestsExpire) {
  auto r = access_->Create(Who("alice"), "tier0-linux-admin", "CHG-1", 0);
  clock_.Advance(policy_->request_ttl + 1);
  EXPECT_EQ(access_->Get(Who("alice"), r->row.id)->row.state, "expired");
  auto st = access_->Approve(Who("bob"), r->row.id);
  ASSERT_EQ(st.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(st.status().message()).find("expired"), std::string::npos);
}

TEST_F(Access, DeniedAndCancelledRequestsCannotBeApproved) {
  auto r = access_->Create(Who("alice"), "tier0-linux-admin", "CHG-1", 0);
  EXPECT_EQ(access_->Cancel(Who("bob"), r->row.id).status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(access_->Deny(Who("carol"), r->row.id).ok());
  EXPECT_EQ(access_->Approve(Who("bob"), r->row.id).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto r2 = access_->Create(Who("alice"), "tier0-linux-admin", "CHG-2", 0);
  ASSERT_TRUE(access_->Cancel(Who("alice"), r2->row.id).ok());
  EXPECT_EQ(access_->Get(Who("alice"), r2->row.id)->row.state, "cancelled");
}

TEST_F(Access, ReasonIsRequired) {
  EXPECT_EQ(access_->Create(Who("alice"), "tier0-linux-admin", "", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(access_->Create(Who("alice"), "tier0-linux-admin", "a\nb", 0).ok());
}

TEST_F(Access, GrantEndsAtItsLeaseAndCanBeRevoked) {
  GrantRow g = ApprovedGrant(600);
  EXPECT_TRUE(access_->UsableGrant(Who("alice"), g.id).ok());
  EXPECT_EQ(access_->UsableGrant(Who("bob"), g.id).status().code(),
            absl::StatusCode::kPermissionDenied);
  clock_.Advance(601);
  EXPECT_EQ(access_->GetGrant(g.id)->state, "expired");
  EXPECT_FALSE(access_->UsableGrant(Who("alice"), g.id).ok());

  GrantRow g2 = ApprovedGrant();
  EXPECT_EQ(access_->Revoke(Who("erin"), g2.id).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto rv = access_->Revoke(Who("carol"), g2.id);
  ASSERT_TRUE(rv.ok());
  EXPECT_EQ(rv->state, "revoked");
  EXPECT_FALSE(access_->UsableGrant(Who("alice"), g2.id).ok());
  EXPECT_FALSE(access_->Revoke(Who("carol"), g2.id).ok());
}

// A caller without the right hears the same refusal whether or not the object exists, and
// nothing about its state.
TEST_F(Access, CallersWithoutTheRightCannotProbeRequestsOrGrants) {
  auto r = access_->Create(Who("bob"), "tier0-linux-admin", "CHG-2", 0);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(access_->Cancel(Who("bob"), r->row.id).ok());
  EXPECT_EQ(access_->Approve(Who("alice"), r->row.id).status().code(),
            absl::StatusCode::kPermissionDenied)
      << "alice approves nothing of tier 0: the request's state is none of her business";
  EXPECT_EQ(access_->Deny(Who("carol"), r->row.id).status().code(),
            absl::StatusCode::kFailedPrecondition);

  GrantRow g = ApprovedGrant();  // alice's
  const auto bob_sign = access_->UsableGrant(Who("bob"), g.id);
  const auto bob_probe = access_->UsableGrant(Who("bob"), "g-nope");
  EXPECT_EQ(bob_sign.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(bob_probe.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(bob_probe.status().message(),
            "bob holds no grant \"g-nope\" (it does not exist or belongs to another user); "
            "wardenctl grants lists yours");
  EXPECT_EQ(access_->Revoke(Who("alice"), "g-nope").status().code(),
            absl::StatusCode::kPermissionDenied)
      << "alice may revoke only her own grants";
  EXPECT_EQ(access_->Revoke(Who("carol"), "g-nope").status().code(), absl::StatusCode::kNotFound)
      << "an approver may revoke others' grants, so may learn there is none";
}

// Another process (`warden-controller user add`, say) holds the database's write lock longer
// than the store waits: the approval is refused whole, with a message saying why, instead of
// its statements being committed one by one once the lock is gone.
TEST_F(Access, AnApprovalWhileAnotherProcessHoldsTheWriteLockIsRefusedWhole) {
  auto r = access_->Create(Who("alice"), "tier0-linux-admin", "CHG-1", 0);
  ASSERT_TRUE(r.ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "warden.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::thread holder([other] {
    std::this_thread::sleep_for(std::chrono::seconds(7));  // the store waits 5 s for the lock
    sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr);
  });
  auto approved = access_->Approve(Who("bob"), r->row.id);
  holder.join();
  sqlite3_close(other);
  ASSERT_FALSE(approved.ok()) << "approved while another process held the write lock";
  EXPECT_EQ(approved.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(approved.status().message().find("the database is busy"), std::string::npos)
      << approved.status().message();
  EXPECT_TRUE(access_->Get(Who("alice"), r->row.id)->approvals.empty()) << "nothing of it was kept";
  EXPECT_TRUE(access_->Approve(Who("bob"), r->row.id).ok()) << "and it works once the lock is gone";
}

}  // namespace
}  // namespace warden
