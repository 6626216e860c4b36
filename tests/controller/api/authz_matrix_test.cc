// Who may call what: every RPC of every service, called over the real gRPC server with mutual TLS
// by six kinds of caller, each answer checked against the table below.
//
// The table is written from the documentation (docs/operator-guide.md's command table,
// docs/vault.md, docs/recordings.md, docs/host-agent.md) and the example policy that `init`
// installs: groups admins [admin], operators [alice], approvers [bob, carol]; vault custodians
// [admins, approvers]. Every call that needs an object gets a fresh one for each caller, so each
// cell is answered by authorization alone, never by what an earlier cell did.
#include <gtest/gtest.h>

#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>

#include <functional>
#include <future>
#include <thread>
#include <set>

#include "common/recording.h"
#include "common/strings.h"
#include "controller/api/recording_convert.h"
#include "controller/api/services.h"
#include "tests/api_client.h"
#include "tests/test_util.h"
#include "warden/v1/access.grpc.pb.h"
#include "warden/v1/audit.grpc.pb.h"
#include "warden/v1/auth.grpc.pb.h"
#include "warden/v1/ca.grpc.pb.h"
#include "warden/v1/database.grpc.pb.h"
#include "warden/v1/gateway.grpc.pb.h"
#include "warden/v1/host.grpc.pb.h"
#include "warden/v1/recording.grpc.pb.h"
#include "warden/v1/vault.grpc.pb.h"

namespace warden {
namespace {

namespace pb = ::warden::v1;
using Code = grpc::StatusCode;
using Ch = std::shared_ptr<grpc::Channel>;

// Columns: no client certificate; alice (operators); bob (approvers, vault custodian); admin
// (admins, vault custodian); an enrolled tier-0 host; a client certificate from a foreign CA,
// which the TLS handshake refuses before any call is made.
enum Caller { kAnonymous, kOperator, kApprover, kAdmin, kHost, kForeign, kCallers };
constexpr const char* kCallerNames[] = {"anonymous", "operator", "approver",
                                        "admin",     "host",     "foreign-CA"};

constexpr Code OK = Code::OK, UNAUTH = Code::UNAUTHENTICATED, DENIED = Code::PERMISSION_DENIED,
               TLS = Code::UNAVAILABLE, INVALID = Code::INVALID_ARGUMENT,
               PRECOND = Code::FAILED_PRECONDITION, NOTFOUND = Code::NOT_FOUND;

class AuthzMatrix : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { RestrictGrpcToTls13(); }

  void SetUp() override {
    auto st = h_.Start();
    ASSERT_TRUE(st.ok()) << st.message();
    c_ = &h_.controller();
    ch_[kAnonymous] = testing::ApiChannel(h_.port(), c_->ca_pem());
    const std::pair<Caller, const char*> people[] = {
        {kOperator, "alice"}, {kApprover, "bob"}, {kAdmin, "admin"}};
    for (const auto& [caller, user] : people) {
      auto l = h_.Login(user);
      ASSERT_TRUE(l.status.ok()) << user << ": " << l.status.error_message();
      ch_[caller] = h_.Channel(l);
    }
    ASSERT_EQ(testing::RunCommand("ssh-keygen -q -t ed25519 -N '' -f " + dir_ / "id").exit_code, 0);
    user_key_ = testing::ReadAll(dir_ / "id.pub");
    Enrolled host = Enroll(ch_[kAnonymous], "db1");
    ASSERT_TRUE(host.status.ok()) << host.status.error_message();
    host_id_ = host.resp.host_id();
    host_key_pem_ = host.key_pem;
    host_cert_pem_ = host.resp.certificate_pem();
    ch_[kHost] = testing::ApiChannel(h_.port(), c_->ca_pem(), host_key_pem_, host_cert_pem_);
    MakeForeignClient();
    // A live session of one of alice's grants on the host, and vault contents.
    session_grant_ = FreshGrant();
    auto chunk = ChunkFromProto(Chunk("s-live", session_grant_));
    ASSERT_TRUE(chunk.ok()) << chunk.status().message();
    ASSERT_TRUE(c_->recordings().Accept(HostIdentity(), *chunk).ok());
    ASSERT_TRUE(c_->vault().Put(Who("admin"), "kv/m/x", ToBytes("v")).ok());
    ASSERT_TRUE(c_->vault().Put(Who("admin"), "kv/m/del", ToBytes("v")).ok());
    ASSERT_TRUE(c_->vault().Put(Who("admin"), "kv/tier0/t", ToBytes("v")).ok());
    ASSERT_TRUE(c_->vault().Put(Who("admin"), "kv/appliance/a", ToBytes("v")).ok());
  }

  Identity Who(const std::string& user) {
    Identity id;
    id.user = user;
    id.groups = c_->policy().GroupsOf(user);
    return id;
  }
  Identity HostIdentity() {
    Identity id;
    id.user = "host/" + host_id_;
    id.host_id = host_id_;
    return id;
  }

  // An admin's join token, presented over `ch` by a new host with a new key.
  struct Enrolled {
    grpc::Status status;
    pb::EnrollResponse resp;
    std::string key_pem;
  };
  Enrolled Enroll(const Ch& ch, const std::string& hostname) {
    Enrolled out;
    pb::CreateJoinTokenRequest tr;
    tr.set_tier(0);
    (*tr.mutable_labels())["env"] = "prod";
    tr.add_hostnames(hostname);
    pb::JoinToken token;
    grpc::ClientContext c1;
    out.status = pb::HostService::NewStub(ch_[kAdmin])->CreateJoinToken(&c1, tr, &token);
    if (!out.status.ok()) return out;
    auto key = GenerateP256Key();
    out.key_pem = *PrivateKeyToPem(key->get());
    pb::EnrollRequest er;
    er.set_token(token.token());
    er.set_hostname(hostname);
    er.set_csr_pem(*CertificateRequestPem(key->get()));
    er.set_ssh_host_public_key(user_key_);
    grpc::ClientContext c2;
    out.status = pb::HostService::NewStub(ch)->Enroll(&c2, er, &out.resp);
    return out;
  }

  // A client certificate that says "admin, operator" but is signed by a CA the controller does
  // not know.
  void MakeForeignClient() {
    const std::string d = dir_ / "foreign";
    const std::string script = StrCat(
        "set -e; mkdir -p ", d, "; cd ", d,
        "; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
        "-out ca.crt -subj '/CN=Warden cluster CA' -days 1 2>/dev/null"
        "; openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout c.key -out c.csr "
        "-subj '/CN=admin/OU=operator' 2>/dev/null"
        "; openssl x509 -req -in c.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out c.crt -days 1 "
        "2>/dev/null");
    ASSERT_EQ(testing::RunCommand("sh -c \"" + script + "\"").exit_code, 0);
    ch_[kForeign] = testing::ApiChannel(h_.port(), c_->ca_pem(), testing::ReadAll(d + "/c.key"),
                                        testing::ReadAll(d + "/c.crt"));
  }

  // A request by alice (pending), and one approved into a grant of hers.
  std::string FreshRequest() {
    auto r = c_->access().Create(Who("alice"), "tier0-linux-admin", "matrix", 600);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r->row.id : "";
  }
  std::string FreshGrant() {
    const std::string id = FreshRequest();
    EXPECT_TRUE(c_->access().Approve(Who("bob"), id).ok());
    auto done = c_->access().Approve(Who("carol"), id);
    EXPECT_TRUE(done.ok());
    return done.ok() ? done->row.grant_id : "";
  }
  pb::RecordingChunk Chunk(const std::string& session, const std::string& grant) {
    pb::RecordingChunk c;
    c.set_session_id(session);
    c.set_seq(1);
    auto events = CompressEvents(pb::RecordingEvents());
    c.set_events_zstd(events->data(), events->size());
    auto g = c_->access().GetGrant(grant);
    c.mutable_session()->set_user(g.ok() ? g->row.login : "");
    c.mutable_session()->set_grant_id(grant);
    return c;
  }
  // A read by alice under dual control: {token, accessor}; with `authorized`, bob and carol
  // have authorized it.
  std::pair<std::string, std::string> FreshWrap(bool authorized) {
    auto r = c_->vault().Read(Who("alice"), "kv/tier0/t", 0);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) return {};
    if (authorized) {
      for (const char* u : {"bob", "carol"})
        EXPECT_TRUE(c_->vault().Authorize(Who(u), r->wrap.accessor, "matrix").ok());
    }
    return {r->token, r->wrap.accessor};
  }

  testing::ControllerHarness h_;
  Controller* c_ = nullptr;
  const testing::TempDir& dir_ = h_.dir();
  Ch ch_[kCallers];
  std::string user_key_, host_id_, host_key_pem_, host_cert_pem_;
  std::string session_grant_;
  int fresh_ = 0;  // numbers fresh users, hosts and sessions
};

// Reads a server stream to its end (or its first message, with `first_only`): OK when a message
// arrived, else the stream's status.
template <typename Msg>
grpc::Status Drain(grpc::ClientContext& ctx, grpc::ClientReaderInterface<Msg>& reader,
                   bool first_only) {
  Msg m;
  bool any = false;
  for (int i = 0; i < 100000 && reader.Read(&m); i++) {
    any = true;
    if (first_only) {
      ctx.TryCancel();
      break;
    }
  }
  grpc::Status st = reader.Finish();
  return any && first_only ? grpc::Status::OK : st;
}

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return ctx;
}

TEST_F(AuthzMatrix, EveryRpcAnswersEveryCallerAsDocumented) {
  using Call = std::function<grpc::Status(Caller, const Ch&)>;
  struct Row {
    const char* rpc;
    Code expect[kCallers];  // anonymous, operator, approver, admin, host, foreign-CA
    Call call;
  };
  auto access = [](const Ch& ch) { return pb::AccessService::NewStub(ch); };
  auto vault = [](const Ch& ch) { return pb::VaultService::NewStub(ch); };
  auto rec = [](const Ch& ch) { return pb::RecordingService::NewStub(ch); };
  auto hosts = [](const Ch& ch) { return pb::HostService::NewStub(ch); };
  auto ca = [](const Ch& ch) { return pb::CaService::NewStub(ch); };
  auto db = [](const Ch& ch) { return pb::DatabaseService::NewStub(ch); };

  const std::vector<Row> rows = {
      // Login is for anyone with a password and a one-time code (a fresh user each time).
      {"AuthService.Login", {OK, OK, OK, OK, OK, TLS},
       [&](Caller, const Ch& ch) {
         const std::string user = StrCat("m", ++fresh_);
         auto secrets = c_->auth().CreateUser(user);
         auto key = GenerateP256Key();
         pb::LoginRequest lr;
         lr.set_user(user);
         lr.set_password(secrets->password);
         lr.set_otp(TotpCode(*Base32Decode(secrets->totp_secret), time(nullptr) / 30));
         lr.set_csr_pem(*CertificateRequestPem(key->get()));
         pb::LoginResponse resp;
         return pb::AuthService::NewStub(ch)->Login(Ctx().get(), lr, &resp);
       }},
      {"AuthService.WhoAmI", {UNAUTH, OK, OK, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::WhoAmIResponse r;
         return pb::AuthService::NewStub(ch)->WhoAmI(Ctx().get(), {}, &r);
       }},
      // Requesters of the role (operators) request; anyone reads requests; approvers of the role,
      // never the requester, review; only the requester cancels.
      {"AccessService.CreateRequest", {UNAUTH, OK, DENIED, DENIED, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::CreateRequestRequest r;
         r.set_role("tier0-linux-admin");
         r.set_reason("matrix");
         r.set_ttl_seconds(600);
         pb::AccessRequest out;
         return access(ch)->CreateRequest(Ctx().get(), r, &out);
       }},
      {"AccessService.ListRequests", {UNAUTH, OK, OK, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::ListRequestsResponse out;
         return access(ch)->ListRequests(Ctx().get(), {}, &out);
       }},
      {"AccessService.GetRequest", {UNAUTH, OK, OK, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::GetRequestRequest r;
         r.set_id(FreshRequest());
         pb::AccessRequest out;
         return access(ch)->GetRequest(Ctx().get(), r, &out);
       }},
      {"AccessService.ApproveRequest", {UNAUTH, DENIED, OK, DENIED, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::ReviewRequest r;
         r.set_id(FreshRequest());
         pb::AccessRequest out;
         return access(ch)->ApproveRequest(Ctx().get(), r, &out);
       }},
      {"AccessService.DenyRequest", {UNAUTH, DENIED, OK, DENIED, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::ReviewRequest r;
         r.set_id(FreshRequest());
         pb::AccessRequest out;
         return access(ch)->DenyRequest(Ctx().get(), r, &out);
       }},
      {"AccessService.CancelRequest", {UNAUTH, OK, DENIED, DENIED, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::CancelRequestRequest r;
         r.set_id(FreshRequest());
         pb::AccessRequest out;
         return access(ch)->CancelRequest(Ctx().get(), r, &out);
       }},
      {"AccessService.ListGrants", {UNAUTH, OK, OK, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::ListGrantsRequest r;
         r.set_all(true);
         pb::ListGrantsResponse out;
         return access(ch)->ListGrants(Ctx().get(), r, &out);
       }},
      // The grant's owner, an approver of its role, or an admin.
      {"AccessService.RevokeGrant", {UNAUTH, OK, OK, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::RevokeGrantRequest r;
         r.set_id(FreshGrant());
         pb::Grant out;
         return access(ch)->RevokeGrant(Ctx().get(), r, &out);
       }},
      // Only the grant's owner, and only for a role brokered by RDP gateways (this one is not).
      {"AccessService.CreateRdpTicket", {UNAUTH, PRECOND, DENIED, DENIED, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::CreateRdpTicketRequest r;
         r.set_grant_id(FreshGrant());
         pb::RdpTicket out;
         return access(ch)->CreateRdpTicket(Ctx().get(), r, &out);
       }},
      // Only the grant's owner has a key signed under it; CA keys and the KRL are public to
      // operators; rotation is for admins.
      {"CaService.SignUserKey", {UNAUTH, OK, DENIED, DENIED, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::SignUserKeyRequest r;
         r.set_grant_id(FreshGrant());
         r.set_public_key(user_key_);
         pb::SignUserKeyResponse out;
         return ca(ch)->SignUserKey(Ctx().get(), r, &out);
       }},
      {"CaService.GetTrustedKeys", {UNAUTH, OK, OK, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::TrustedKeys out;
         return ca(ch)->GetTrustedKeys(Ctx().get(), {}, &out);
       }},
      {"CaService.RotateCa", {UNAUTH, DENIED, DENIED, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::RotateCaRequest r;
         r.set_tier(2);
         pb::TrustedKeys out;
         return ca(ch)->RotateCa(Ctx().get(), r, &out);
       }},
      {"CaService.GetKrl", {UNAUTH, OK, OK, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::Krl out;
         return ca(ch)->GetKrl(Ctx().get(), {}, &out);
       }},
      // Join tokens are for admins; the token itself is the credential of Enroll (no client
      // certificate needed); the rest is for enrolled hosts only.
      {"HostService.CreateJoinToken", {UNAUTH, DENIED, DENIED, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::CreateJoinTokenRequest r;
         r.set_tier(1);
         r.add_hostnames("web1");
         pb::JoinToken out;
         return hosts(ch)->CreateJoinToken(Ctx().get(), r, &out);
       }},
      {"HostService.Enroll", {OK, OK, OK, OK, OK, TLS},
       [&](Caller, const Ch& ch) { return Enroll(ch, StrCat("h", ++fresh_)).status; }},
      {"HostService.Watch", {UNAUTH, DENIED, DENIED, DENIED, OK, TLS},
       [&](Caller, const Ch& ch) {
         auto ctx = Ctx();
         auto reader = hosts(ch)->Watch(ctx.get(), {});
         return Drain(*ctx, *reader, /*first_only=*/true);
       }},
      {"HostService.RenewCertificate", {UNAUTH, DENIED, DENIED, DENIED, OK, TLS},
       [&](Caller, const Ch& ch) {
         auto key = GenerateP256Key();
         pb::RenewCertificateRequest r;
         r.set_csr_pem(*CertificateRequestPem(key->get()));
         pb::RenewCertificateResponse out;
         return hosts(ch)->RenewCertificate(Ctx().get(), r, &out);
       }},
      {"HostService.ReportLeaseEnd", {UNAUTH, DENIED, DENIED, DENIED, OK, TLS},
       [&](Caller, const Ch& ch) {
         pb::LeaseEndReport r;
         r.set_grant_id(session_grant_);
         r.set_reason("expired");
         pb::LeaseEndAck out;
         return hosts(ch)->ReportLeaseEnd(Ctx().get(), r, &out);
       }},
      // A host reports its own inventory; nobody else may (a gateway has none: DENIED).
      {"HostService.ReportInventory", {UNAUTH, DENIED, DENIED, DENIED, OK, TLS},
       [&](Caller, const Ch& ch) {
         pb::InventoryReport r;
         r.mutable_inventory()->add_break_glass("root");
         pb::InventoryAck out;
         return hosts(ch)->ReportInventory(Ctx().get(), r, &out);
       }},
      // A host's task stream stays open, waiting for work: the host's call is accepted and
      // runs into its (short) deadline; nobody else gets a stream.
      {"HostService.Tasks", {UNAUTH, DENIED, DENIED, DENIED, Code::DEADLINE_EXCEEDED, TLS},
       [&](Caller, const Ch& ch) {
         grpc::ClientContext ctx;
         ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
         auto reader = hosts(ch)->Tasks(&ctx, {});
         return Drain(ctx, *reader, /*first_only=*/true);
       }},
      // A host answers only its own tasks: no task waits here, so the host hears NOT_FOUND.
      {"HostService.FinishTask", {UNAUTH, DENIED, DENIED, DENIED, NOTFOUND, TLS},
       [&](Caller, const Ch& ch) {
         pb::HostTaskResult r;
         r.set_id("task-0000000000000000");
         pb::HostTaskAck out;
         return hosts(ch)->FinishTask(Ctx().get(), r, &out);
       }},
      // Brokered sessions are opened and closed by gateways only: a host's certificate is not
      // a gateway's (tests/e2e: e2e_sshgw has the gateway's own calls).
      {"GatewayService.OpenSession", {UNAUTH, DENIED, DENIED, DENIED, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::BrokerSession out;
         return pb::GatewayService::NewStub(ch)->OpenSession(Ctx().get(), {}, &out);
       }},
      {"GatewayService.CloseSession", {UNAUTH, DENIED, DENIED, DENIED, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::CloseBrokerSessionResponse out;
         return pb::GatewayService::NewStub(ch)->CloseSession(Ctx().get(), {}, &out);
       }},
      {"AuditService.ExportLog", {UNAUTH, DENIED, DENIED, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         auto ctx = Ctx();
         auto reader = pb::AuditService::NewStub(ch)->ExportLog(ctx.get(), {});
         return Drain(*ctx, *reader, /*first_only=*/false);
       }},
      // Alerts: admins and recording viewers (admins by default).
      {"AuditService.ListAlerts", {UNAUTH, DENIED, DENIED, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::ListAlertsResponse out;
         return pb::AuditService::NewStub(ch)->ListAlerts(Ctx().get(), {}, &out);
       }},
      {"AuditService.GetCoverage", {UNAUTH, DENIED, DENIED, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::CoverageResponse out;
         return pb::AuditService::NewStub(ch)->GetCoverage(Ctx().get(), {}, &out);
       }},
      // Hosts upload; recording viewers (admins by default) list, read, verify and terminate;
      // the session's own operator never moderates it.
      {"RecordingService.Upload", {UNAUTH, DENIED, DENIED, DENIED, OK, TLS},
       [&](Caller, const Ch& ch) {
         auto ctx = Ctx();
         auto stream = rec(ch)->Upload(ctx.get());
         stream->Write(Chunk(StrCat("s-up", ++fresh_), session_grant_));
         pb::UploadAck ack;
         const bool acked = stream->Read(&ack);
         stream->WritesDone();
         grpc::Status st = stream->Finish();
         return acked && ack.seq() == 1 ? grpc::Status::OK : st;
       }},
      {"RecordingService.ListSessions", {UNAUTH, DENIED, DENIED, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::ListSessionsResponse out;
         return rec(ch)->ListSessions(Ctx().get(), {}, &out);
       }},
      {"RecordingService.GetRecording", {UNAUTH, DENIED, DENIED, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::GetRecordingRequest r;
         r.set_session_id("s-live");
         auto ctx = Ctx();
         auto reader = rec(ch)->GetRecording(ctx.get(), r);
         return Drain(*ctx, *reader, /*first_only=*/false);
       }},
      {"RecordingService.VerifyRecording", {UNAUTH, DENIED, DENIED, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::GetRecordingRequest r;
         r.set_session_id("s-live");
         pb::VerifyRecordingResponse out;
         return rec(ch)->VerifyRecording(Ctx().get(), r, &out);
       }},
      {"RecordingService.TerminateSession", {UNAUTH, DENIED, DENIED, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::TerminateSessionRequest r;
         r.set_session_id("s-live");
         r.set_reason("matrix");
         pb::TerminateSessionResponse out;
         return rec(ch)->TerminateSession(Ctx().get(), r, &out);
       }},
      // The seal is for custodians (its status also for admins); secrets per the policy's
      // paths: kv/* read/write/delete admins, list everyone; kv/tier0/* read operators under a
      // control group of approvers; kv/appliance/* read operators and approvers, checked out.
      {"VaultService.Status", {UNAUTH, DENIED, OK, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::VaultStatus out;
         return vault(ch)->Status(Ctx().get(), {}, &out);
       }},
      {"VaultService.Unseal", {UNAUTH, DENIED, INVALID, INVALID, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::UnsealRequest r;
         r.set_share("not-a-share");
         pb::VaultStatus out;
         return vault(ch)->Unseal(Ctx().get(), r, &out);
       }},
      {"VaultService.Put", {UNAUTH, DENIED, DENIED, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::PutSecretRequest r;
         r.set_path("kv/m/x");
         r.set_value("v2");
         pb::PutSecretResponse out;
         return vault(ch)->Put(Ctx().get(), r, &out);
       }},
      {"VaultService.Get", {UNAUTH, DENIED, DENIED, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::GetSecretRequest r;
         r.set_path("kv/m/x");
         pb::GetSecretResponse out;
         return vault(ch)->Get(Ctx().get(), r, &out);
       }},
      {"VaultService.List", {UNAUTH, OK, OK, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::ListSecretsRequest r;
         r.set_prefix("kv/");
         pb::ListSecretsResponse out;
         return vault(ch)->List(Ctx().get(), r, &out);
       }},
      {"VaultService.Metadata", {UNAUTH, OK, OK, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::SecretMetadataRequest r;
         r.set_path("kv/m/x");
         pb::SecretMetadata out;
         return vault(ch)->Metadata(Ctx().get(), r, &out);
       }},
      {"VaultService.Delete", {UNAUTH, DENIED, DENIED, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::DeleteSecretRequest r;
         r.set_path("kv/m/del");
         pb::DeleteSecretResponse out;
         return vault(ch)->Delete(Ctx().get(), r, &out);
       }},
      // The requester, the control group and admins look a request up; the control group,
      // never the requester, authorizes; only the requester unwraps.
      {"VaultService.LookupWrap", {UNAUTH, OK, OK, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::WrapRequest r;
         r.set_accessor(FreshWrap(false).second);
         pb::WrapInfo out;
         return vault(ch)->LookupWrap(Ctx().get(), r, &out);
       }},
      {"VaultService.Authorize", {UNAUTH, DENIED, OK, DENIED, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::AuthorizeRequest r;
         r.set_accessor(FreshWrap(false).second);
         r.set_reason("matrix");
         pb::WrapInfo out;
         return vault(ch)->Authorize(Ctx().get(), r, &out);
       }},
      {"VaultService.Unwrap", {UNAUTH, OK, DENIED, DENIED, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::UnwrapRequest r;
         r.set_token(FreshWrap(true).first);
         pb::GetSecretResponse out;
         return vault(ch)->Unwrap(Ctx().get(), r, &out);
       }},
      // Checked out by alice: she checks in; bob, who may read the path, learns it is not his;
      // admin may not read kv/appliance/* and learns nothing.
      {"VaultService.CheckIn", {UNAUTH, OK, PRECOND, DENIED, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         (void)c_->vault().Read(Who("alice"), "kv/appliance/a", 0);  // (again) checked out to her
         pb::CheckInRequest r;
         r.set_path("kv/appliance/a");
         pb::CheckInResponse out;
         return vault(ch)->CheckIn(Ctx().get(), r, &out);
       }},
      // Database credentials: the example policy's readonly role is for operators; its
      // connection's admin password is not in the vault here, so an allowed call gets as far as
      // NOT_FOUND naming the vault path. Leases: everyone sees their own; by prefix admins only;
      // orphans admins only (the same NOT_FOUND past the check).
      {"DatabaseService.Creds", {UNAUTH, NOTFOUND, DENIED, DENIED, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::DbCredsRequest r;
         r.set_role("readonly");
         pb::DbCreds out;
         return db(ch)->Creds(Ctx().get(), r, &out);
       }},
      {"DatabaseService.Renew", {UNAUTH, NOTFOUND, NOTFOUND, NOTFOUND, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::DbRenewRequest r;
         r.set_lease_id("db/readonly/nosuchlease");
         pb::DbLease out;
         return db(ch)->Renew(Ctx().get(), r, &out);
       }},
      {"DatabaseService.Revoke", {UNAUTH, DENIED, DENIED, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::DbRevokeRequest r;
         r.set_prefix("db/readonly/");
         pb::DbRevokeResponse out;
         return db(ch)->Revoke(Ctx().get(), r, &out);
       }},
      {"DatabaseService.ListLeases", {UNAUTH, OK, OK, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::DbLeases out;
         return db(ch)->ListLeases(Ctx().get(), {}, &out);
       }},
      {"DatabaseService.Orphans", {UNAUTH, DENIED, DENIED, NOTFOUND, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::DbOrphansRequest r;
         r.set_connection("appdb");
         pb::DbOrphans out;
         return db(ch)->Orphans(Ctx().get(), r, &out);
       }},
      // Rotation: the example policy's appdb admin path is a target (rotate-root) for admins
      // only; with no secret there, an admin's rotation gets as far as FAILED_PRECONDITION
      // (Warden cannot change the admin's password without the current one), a reset as far
      // as "not drifted". The listing shows each caller only what they may rotate.
      {"VaultService.Rotate", {UNAUTH, DENIED, DENIED, PRECOND, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::RotateSecretRequest r;
         r.set_path("db/appdb/admin");
         pb::RotateSecretResponse out;
         return vault(ch)->Rotate(Ctx().get(), r, &out);
       }},
      {"VaultService.Reconcile", {UNAUTH, DENIED, DENIED, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::ReconcileRequest r;
         r.set_prefix("db/appdb/admin");
         pb::ReconcileResponse out;
         return vault(ch)->Reconcile(Ctx().get(), r, &out);
       }},
      {"VaultService.Reset", {UNAUTH, DENIED, DENIED, PRECOND, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::ResetSecretRequest r;
         r.set_path("db/appdb/admin");
         pb::ResetSecretResponse out;
         return vault(ch)->Reset(Ctx().get(), r, &out);
       }},
      {"VaultService.ListRotations", {UNAUTH, OK, OK, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::ListRotationsResponse out;
         return vault(ch)->ListRotations(Ctx().get(), {}, &out);
       }},
      {"DatabaseService.RotateRoot", {UNAUTH, DENIED, DENIED, PRECOND, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::DbRotateRootRequest r;
         r.set_connection("appdb");
         pb::DbRotateRootResponse out;
         return db(ch)->RotateRoot(Ctx().get(), r, &out);
       }},
      // Last: it seals the vault.
      {"VaultService.Seal", {UNAUTH, DENIED, OK, OK, DENIED, TLS},
       [&](Caller, const Ch& ch) {
         pb::VaultStatus out;
         return vault(ch)->Seal(Ctx().get(), {}, &out);
       }},
  };

  // Every RPC of every service is in the table, once.
  std::set<std::string> listed, served;
  for (const Row& r : rows) EXPECT_TRUE(listed.insert(r.rpc).second) << r.rpc << " twice";
  for (const char* service : {"AuthService", "AccessService", "CaService", "HostService",
                              "AuditService", "RecordingService", "VaultService",
                              "DatabaseService", "GatewayService"}) {
    const auto* d = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
        StrCat("warden.v1.", service));
    ASSERT_NE(d, nullptr) << service;
    for (int m = 0; m < d->method_count(); m++)
      served.insert(StrCat(d->name(), ".", d->method(m)->name()));
  }
  EXPECT_EQ(listed, served);

  for (const Row& r : rows) {
    for (int caller = 0; caller < kCallers; caller++) {
      grpc::Status st = r.call(static_cast<Caller>(caller), ch_[caller]);
      EXPECT_EQ(st.error_code(), r.expect[caller])
          << r.rpc << " called by " << kCallerNames[caller] << ": " << st.error_message();
    }
  }
}

// A host that goes away while the controller is still writing to it (acks it never reads, so
// flow control holds a write in flight) leaves no call behind: the server's Shutdown, which waits
// for every call, returns. (An upload that failed on its read and then on its write was never
// finished, and warden-controller hung on SIGTERM.)
TEST_F(AuthzMatrix, AHostGoneWithAnAckInFlightDoesNotHoldTheShutdown) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);  // the acks' window stays at its initial 64 KiB
  auto ch = testing::ApiChannel(h_.port(), c_->ca_pem(), host_key_pem_, host_cert_pem_, args);
  grpc::ClientContext ctx;
  auto stream = pb::RecordingService::NewStub(ch)->Upload(&ctx);
  pb::RecordingChunk c = Chunk("s-unread", FreshGrant());
  for (uint64_t seq = 1; seq <= 4000; seq++) {
    c.set_seq(seq);
    if (seq == 2) c.clear_session();
    ASSERT_TRUE(stream->Write(c)) << "chunk " << seq;
  }
  // Every chunk stored: 4000 acks (about 30 bytes each) are more than the window holds.
  auto stored = [&] {
    auto rows = c_->recordings().List(Who("admin"), {});
    for (const auto& r : rows.ok() ? *rows : std::vector<RecordingRow>{}) {
      if (r.session_id == "s-unread") return r.chunks;
    }
    return uint64_t{0};
  };
  for (int i = 0; i < 600 && stored() < 4000; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(stored(), 4000u);
  ctx.TryCancel();
  auto stopped = std::async(std::launch::async, [&] { h_.Stop(); });
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(60)), std::future_status::ready)
      << "Shutdown still waits for the upload";
}

// A rotation names its algorithm as the CLI spells it; a name the controller does not know is
// refused with the names it does, and nothing rotates.
TEST_F(AuthzMatrix, ARotationToAnUnknownAlgorithmIsRefusedWithTheKnownOnes) {
  auto ca = pb::CaService::NewStub(ch_[kAdmin]);
  pb::RotateCaRequest r;
  r.set_tier(2);
  r.set_algorithm("rsa");
  pb::TrustedKeys out;
  grpc::Status st = ca->RotateCa(Ctx().get(), r, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("ed25519 or ecdsa-p256"), std::string::npos)
      << st.error_message();
  auto keys = c_->ca().TrustedKeys("user", 2);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->size(), 1u) << "no rotation started";
}

}  // namespace
}  // namespace warden
