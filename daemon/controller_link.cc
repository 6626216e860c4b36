#include "daemon/controller_link.h"

#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "common/crypto.h"
#include "common/files.h"
#include "common/strings.h"
#include "common/inventory_proto.h"
#include "daemon/inventory.h"
#include "daemon/log.h"
#include "daemon/login_records.h"
#include "daemon/proto_convert.h"
#include "warden/v1/host.grpc.pb.h"
#include "warden/v1/recording.grpc.pb.h"

namespace warden {
namespace {

namespace pb = ::warden::v1;

// Renew the host certificate when less than this much of its life is left.
constexpr int64_t kRenewBefore = 10 * 86400;

std::string Hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  std::string h = buf;
  for (char& ch : h) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
  return h;
}

}  // namespace

std::shared_ptr<grpc::Channel> MakeControllerChannel(const std::string& target,
                                                     grpc::SslCredentialsOptions opts) {
  grpc::ChannelArguments args;
  // Notice a dead path within ~30 s even when nothing is being sent.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(opts), args);
}

std::unique_ptr<grpc::ClientContext> Deadline(int seconds) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}


absl::Status EnrollHost(const HostConfig& c, const EnrollOptions& o, std::ostream& out) {
  ASSIGN_OR_RETURN(std::string ca, ReadFile(o.ca_file));
  RETURN_IF_ERROR(ReadCertificatePem(ca).status());
  ASSIGN_OR_RETURN(std::string host_key, ReadFile(o.ssh_host_key));
  ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateP256Key());
  ASSIGN_OR_RETURN(std::string csr, CertificateRequestPem(key.get()));
  ASSIGN_OR_RETURN(std::string key_pem, PrivateKeyToPem(key.get()));

  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = ca;
  auto stub = pb::HostService::NewStub(MakeControllerChannel(o.controller, opts));
  pb::EnrollRequest req;
  req.set_token(o.token);
  req.set_hostname(o.hostname.empty() ? Hostname() : o.hostname);
  req.set_csr_pem(csr);
  req.set_ssh_host_public_key(host_key);
  req.set_kind(o.kind);
  pb::EnrollResponse resp;
  grpc::Status st = stub->Enroll(Deadline(15).get(), req, &resp);
  if (!st.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                        StrCat("enrollment with ", o.controller, " failed: ", st.error_message()));
  }
  mkdir(c.state_dir.c_str(), 0755);
  absl::Status wrote = WriteFileAtomic(c.StatePath("host.key"), key_pem, 0600);
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  RETURN_IF_ERROR(wrote);
  RETURN_IF_ERROR(WriteFileAtomic(c.StatePath("host.crt"), resp.certificate_pem(), 0644));
  RETURN_IF_ERROR(WriteFileAtomic(c.StatePath("ca.crt"), ca, 0644));
  RETURN_IF_ERROR(
      WriteFileAtomic(c.StatePath("ssh_host_key-cert.pub"), resp.ssh_host_certificate(), 0644));
  for (const char* name : {"trusted_user_ca_keys", "revoked_keys.krl"}) {
    if (access(c.StatePath(name).c_str(), F_OK) != 0) {
      RETURN_IF_ERROR(WriteFileAtomic(c.StatePath(name), "", 0644));
    }
  }
  HostEnrollment e;
  e.controller = o.controller;
  e.host_id = resp.host_id();
  e.tier = resp.tier();
  e.labels = {resp.labels().begin(), resp.labels().end()};
  RETURN_IF_ERROR(SaveEnrollment(c, e));
  out << "enrolled as " << e.host_id << " (tier " << e.tier << ")";
  for (const auto& [k, v] : e.labels) out << " " << k << "=" << v;
  out << "\nSSH host certificate: " << c.StatePath("ssh_host_key-cert.pub") << "\n";
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> EnrolledChannel(const HostConfig& c, const std::string& controller) {
  auto ca = ReadFile(c.StatePath("ca.crt"));
  auto key = ReadFile(c.StatePath("host.key"));
  auto cert = ReadFile(c.StatePath("host.crt"));
  if (!ca.ok() || !key.ok() || !cert.ok()) return nullptr;
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = *ca;
  opts.pem_private_key = *key;
  opts.pem_cert_chain = *cert;
  OPENSSL_cleanse(key->data(), key->size());
  return MakeControllerChannel(controller, opts);
}

std::shared_ptr<grpc::Channel> ControllerLink::Channel() {
  std::lock_guard lock(mu_);
  if (!channel_) channel_ = EnrolledChannel(agent_.config(), enrollment_.controller);
  return channel_;
}

void ControllerLink::RenewIfDue() {
  const HostConfig& c = agent_.config();
  auto cert = ReadFile(c.StatePath("host.crt"));
  if (!cert.ok()) return;
  auto subject = ReadCertificateSubject(*cert);
  if (!subject.ok() || subject->not_after - static_cast<int64_t>(time(nullptr)) > kRenewBefore) {
    return;
  }
  auto key = GenerateP256Key();
  if (!key.ok()) return;
  auto csr = CertificateRequestPem(key->get());
  auto key_pem = PrivateKeyToPem(key->get());
  if (!csr.ok() || !key_pem.ok()) return;
  pb::RenewCertificateRequest req;
  req.set_csr_pem(*csr);
  pb::RenewCertificateResponse resp;
  grpc::Status st = pb::HostService::NewStub(Channel())->RenewCertificate(Deadline(15).get(), req, &resp);
  if (!st.ok()) {
    LogLine(LOG_WARNING, StrCat("host certificate renewal failed: ", st.error_message()));
    return;
  }
  const bool stored = WriteFileAtomic(c.StatePath("host.key"), *key_pem, 0600).ok() &&
                      WriteFileAtomic(c.StatePath("host.crt"), resp.certificate_pem(), 0644).ok();
  OPENSSL_cleanse(key_pem->data(), key_pem->size());
  if (!stored) {
    LogLine(LOG_ERR, "cannot store the renewed host certificate");
    return;
  }
  LogLine(LOG_NOTICE, StrCat("host certificate renewed until ", resp.expires_unix()));
  std::lock_guard lock(mu_);
  channel_.reset();  // the next connection presents the new certificate
}

void ControllerLink::SetConnected(bool up) {
  std::lock_guard lock(connected_mu_);
  connected_ = up;
  connected_cv_.notify_all();
}

bool ControllerLink::WaitConnected(int timeout_ms) {
  std::unique_lock lock(connected_mu_);
  return connected_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return connected_; });
}

void ControllerLink::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  if (watch_ctx_) watch_ctx_->TryCancel();
  if (upload_ctx_) upload_ctx_->TryCancel();
  if (tasks_ctx_) tasks_ctx_->TryCancel();
}

void ControllerLink::RunRecordings(RecordingSpool& spool, const std::atomic<bool>& stop) {
  RecordingUplink u;
  u.controller = enrollment_.controller;
  u.reconnect_max_ms = agent_.config().reconnect_max_ms;
  u.channel = [this] { return Channel(); };
  u.control = [this](const std::string& id, const SessionControl& c) { agent_.Moderate(id, c); };
  u.lost = [this] { agent_.ModeratorsLost(); };
  u.set_context = [this](grpc::ClientContext* ctx) {
    std::lock_guard lock(mu_);
    if (ctx && cancelled_) return false;
    upload_ctx_ = ctx;
    return true;
  };
  RunRecordingUplink(spool, u, stop);
}

void RunRecordingUplink(RecordingSpool& spool, const RecordingUplink& u,
                        const std::atomic<bool>& stop) {
  int64_t backoff_ms = 250;
  while (!stop) {
    if (spool.Idle()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    auto channel = u.channel();
    grpc::Status st(grpc::StatusCode::FAILED_PRECONDITION, "host key or certificate missing");
    uint64_t acked = 0;
    if (channel) {
      grpc::ClientContext ctx;
      if (!u.set_context(&ctx)) return;
      auto stream = pb::RecordingService::NewStub(channel)->Upload(&ctx);
      spool.Rewind();
      std::atomic<bool> broken{false};
      std::thread reader([&] {
        pb::UploadAck ack;
        while (stream->Read(&ack)) {
          if (ack.has_control()) {
            u.control(ack.session_id(), SessionControlFromProto(ack.control()));
            continue;
          }
          spool.Ack(ack.session_id(), ack.seq());
          ++acked;
        }
        // Moderators watch through this stream's controller: without it, nobody watches.
        u.lost();
        broken = true;
        spool.Wake();
      });
      // An idle stream is closed after a while; the next session opens a new one.
      int idle_rounds = 0;
      while (!stop && !broken && idle_rounds < 100) {
        std::vector<RecordingChunk> chunks = spool.Next(100);
        idle_rounds = chunks.empty() && spool.Idle() ? idle_rounds + 1 : 0;
        for (const RecordingChunk& c : chunks) {
          if (!stream->Write(RecordingChunkToProto(c))) {
            broken = true;
            break;
          }
        }
      }
      if (!broken) stream->WritesDone();
      reader.join();
      st = stream->Finish();
      u.set_context(nullptr);
    }
    if (stop) return;
    if (st.ok()) {
      backoff_ms = 250;
      continue;
    }
    if (acked > 0) backoff_ms = 250;
    LogLine(LOG_WARNING, StrCat("recording upload to ", u.controller, " ended: ",
                                st.error_message(), " (", spool.unacked_bytes(),
                                " bytes unacknowledged, kept in memory); retrying in ", backoff_ms,
                                " ms"));
    for (int64_t waited = 0; waited < backoff_ms && !stop; waited += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    backoff_ms = std::min<int64_t>(backoff_ms * 2, u.reconnect_max_ms);
  }
}

void ControllerLink::RunWatch(const std::atomic<bool>& stop) {
  std::mt19937_64 rng(std::random_device{}());
  int64_t backoff_ms = 250;
  while (!stop) {
    RenewIfDue();
    auto channel = Channel();
    grpc::Status st(grpc::StatusCode::FAILED_PRECONDITION, "host key or certificate missing");
    bool received = false;
    if (channel) {
      grpc::ClientContext ctx;
      {
        std::lock_guard lock(mu_);
        if (cancelled_) return;
        watch_ctx_ = &ctx;
      }
      pb::WatchRequest req;
      req.set_revision(agent_.revision());
      auto reader = pb::HostService::NewStub(channel)->Watch(&ctx, req);
      reader->WaitForInitialMetadata();
      if (ctx.GetServerInitialMetadata().count("warden-watch-accepted")) {
        LogLine(LOG_INFO, StrCat("connected to ", enrollment_.controller));
        SetConnected(true);
      }
      pb::HostState state;
      while (reader->Read(&state)) {
        received = true;
        backoff_ms = 250;
        absl::Status applied = agent_.Apply(HostStateFromProto(state));
        if (!applied.ok()) {
          LogLine(LOG_ERR, StrCat("cannot apply revision ", state.revision(), ": ", applied.message()));
        }
      }
      SetConnected(false);
      st = reader->Finish();
      std::lock_guard lock(mu_);
      watch_ctx_ = nullptr;
    }
    if (stop) return;
    {
      // A fresh channel for the next attempt: gRPC's own reconnect backoff would otherwise keep
      // failing calls fast for a while after the controller is back; ours governs instead.
      std::lock_guard lock(mu_);
      channel_.reset();
    }
    LogLine(received ? LOG_WARNING : LOG_INFO,
            StrCat("watch stream to ", enrollment_.controller, " ended: ", st.error_message(),
                   "; retrying in ", backoff_ms, " ms"));
    // Jitter between half and all of the current backoff; the cap is reconnect_max_ms.
    const int64_t wait = backoff_ms / 2 + static_cast<int64_t>(rng() % static_cast<uint64_t>(backoff_ms / 2 + 1));
    for (int64_t waited = 0; waited < wait && !stop; waited += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    backoff_ms = std::min<int64_t>(backoff_ms * 2, agent_.config().reconnect_max_ms);
  }
}

void ControllerLink::RunTasks(const LocalPasswords& passwords, const std::atomic<bool>& stop) {
  int64_t backoff_ms = 250;
  while (!stop) {
    auto channel = Channel();
    grpc::Status st(grpc::StatusCode::FAILED_PRECONDITION, "host key or certificate missing");
    if (channel) {
      grpc::ClientContext ctx;
      {
        std::lock_guard lock(mu_);
        if (cancelled_) return;
        tasks_ctx_ = &ctx;
      }
      auto stub = pb::HostService::NewStub(channel);
      const auto opened = std::chrono::steady_clock::now();
      auto reader = stub->Tasks(&ctx, pb::TasksRequest());
      pb::HostTask task;
      while (reader->Read(&task)) {
        absl::StatusOr<LocalPasswordTask> t = HostTaskFromProto(task);
        pb::LocalPassword* p = task.has_set_password()     ? task.mutable_set_password()
                               : task.has_check_password() ? task.mutable_check_password()
                                                           : nullptr;
        if (p) OPENSSL_cleanse(p->mutable_password()->data(), p->password().size());
        const absl::Status done = t.ok() ? passwords.Run(*t, static_cast<int64_t>(time(nullptr))) : t.status();
        if (t.ok()) {
          const char* what = t->kind == LocalPasswordTask::Kind::kSet ? "set" : "proven";
          LogLine(done.ok() ? LOG_NOTICE : LOG_WARNING,
                  StrCat("password of local account ", t->login, done.ok() ? " " : " not ", what,
                         " for the controller (", task.id(), ")",
                         done.ok() ? "" : StrCat(": ", done.message())));
        }
        pb::HostTaskResult result;
        result.set_id(task.id());
        result.set_code(static_cast<int>(done.code()));
        result.set_message(std::string(done.message()));
        // A few tries: without the answer the controller cannot tell whether a password was
        // set (it then keeps the new one pending and proves both, but later).
        grpc::Status sent;
        for (int attempt = 0; attempt < 3 && !stop; attempt++) {
          if (attempt) std::this_thread::sleep_for(std::chrono::seconds(1));
          pb::HostTaskAck ack;
          sent = stub->FinishTask(Deadline(10).get(), result, &ack);
          if (sent.ok() || sent.error_code() == grpc::StatusCode::NOT_FOUND) break;
        }
        if (!sent.ok())
          LogLine(LOG_WARNING, StrCat("cannot report task ", task.id(), ": ", sent.error_message()));
      }
      st = reader->Finish();
      // A stream that stayed up a while was a working connection: start the backoff over.
      if (std::chrono::steady_clock::now() - opened > std::chrono::seconds(10)) backoff_ms = 250;
      std::lock_guard lock(mu_);
      tasks_ctx_ = nullptr;
    }
    if (stop) return;
    for (int64_t waited = 0; waited < backoff_ms && !stop; waited += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    backoff_ms = std::min<int64_t>(backoff_ms * 2, agent_.config().reconnect_max_ms);
  }
}

void ControllerLink::RunReports(const std::atomic<bool>& stop) {
  while (!stop) {
    for (const EndedAccount& e : agent_.PendingReports()) {
      auto channel = Channel();
      if (!channel) break;
      pb::LeaseEndReport req;
      req.set_grant_id(e.account.grant_id);
      req.set_login(e.account.login);
      req.set_reason(e.reason);
      req.set_processes_killed(e.processes_killed);
      req.set_home_removed(e.home_removed);
      req.set_ended_unix(e.ended);
      if (!e.cleaned) {
        req.set_incomplete(true);
        req.set_error(e.error);
        req.set_attempts(e.attempts);
      }
      pb::LeaseEndAck ack;
      grpc::Status st = pb::HostService::NewStub(channel)->ReportLeaseEnd(Deadline(5).get(), req, &ack);
      if (!st.ok()) break;  // retried next round
      agent_.MarkReported(e);
    }
    for (int i = 0; i < 20 && !stop; i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

namespace {

// Reports carry the inventory whole; beyond this much (the controller takes 1 MiB a message),
// key comments, then keys beyond 16 an account, then accounts are left out, and that is said.
constexpr size_t kMaxReportBytes = 768 << 10;
// An unchanged inventory is sent again this often: the controller tells a silent host from an
// unchanged one by its last report.
constexpr int64_t kInventoryRefreshMs = 3600 * 1000;

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void FitReport(pb::InventoryReport& req) {
  pb::Inventory* inv = req.mutable_inventory();
  if (req.ByteSizeLong() <= kMaxReportBytes) return;
  for (pb::InventoryAccount& a : *inv->mutable_privileged())
    for (pb::InventoryKey& k : *a.mutable_authorized_keys()) k.clear_comment();
  inv->add_problems("the report was too large: key comments left out");
  if (req.ByteSizeLong() <= kMaxReportBytes) return;
  for (pb::InventoryAccount& a : *inv->mutable_privileged())
    if (a.authorized_keys_size() > 16) a.mutable_authorized_keys()->DeleteSubrange(16, a.authorized_keys_size() - 16);
  inv->add_problems("the report was too large: 16 keys an account reported");
  while (req.ByteSizeLong() > kMaxReportBytes && inv->privileged_size() > 0)
    inv->mutable_privileged()->RemoveLast();
  if (req.ByteSizeLong() > kMaxReportBytes) inv->clear_sudoers();
  inv->add_problems("the report was too large: privileged accounts or sudoers rules left out");
}

// Runs `report` until it succeeds or `stop`: retried with backoff (1 s doubling to `max_ms`),
// its failure logged once per outage under `what`.
bool Retry(const std::atomic<bool>& stop, int64_t max_ms, const std::string& what,
           const std::function<absl::Status()>& report) {
  std::string last_error;
  for (int64_t backoff_ms = 1000; !stop; backoff_ms = std::min<int64_t>(backoff_ms * 2, max_ms)) {
    absl::Status st = report();
    if (st.ok()) {
      if (!last_error.empty()) LogLine(LOG_INFO, StrCat(what, " reported again"));
      return true;
    }
    if (st.ToString() != last_error) LogLine(LOG_ERR, StrCat(what, " report failed (retried): ", st.message()));
    last_error = st.ToString();
    for (int64_t t = 0; t < backoff_ms && !stop; t += 50) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace

absl::Status ControllerLink::SendReport(const pb::InventoryReport& req) {
  auto channel = Channel();
  if (!channel) return absl::UnavailableError("not enrolled");
  pb::InventoryAck ack;
  grpc::Status g = pb::HostService::NewStub(channel)->ReportInventory(Deadline(10).get(), req, &ack);
  if (!g.ok()) return absl::UnavailableError(StrCat("controller ", enrollment_.controller, ": ", g.error_message()));
  return absl::OkStatus();
}

void ControllerLink::RunInventory(const std::atomic<bool>& stop) {
  const HostConfig& c = agent_.config();
  std::string reported;  // the inventory (as JSON) the controller acknowledged since this start
  int64_t reported_at = 0;
  while (!stop) {
    const Inventory inv = CollectInventory(c.inventory_root, c.break_glass);
    const std::string text = ToJson(inv).dump();
    if (text != reported || SteadyMs() - reported_at >= kInventoryRefreshMs) {
      pb::InventoryReport req;
      ToProto(inv, req.mutable_inventory());
      FitReport(req);
      if (!Retry(stop, c.reconnect_max_ms, "inventory", [&] { return SendReport(req); })) return;
      reported = text;
      reported_at = SteadyMs();
    }
    for (int64_t t = 0; t < c.inventory_interval_ms && !stop; t += 50)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void ControllerLink::RunLogins(const std::atomic<bool>& stop) {
  const HostConfig& c = agent_.config();
  LoginRecordReader records(c.login_records, c.StatePath("login-records.cursor"));
  while (!stop) {
    absl::StatusOr<std::vector<LoginRecord>> read;
    Retry(stop, c.reconnect_max_ms, "login records", [&] {
      read = records.ReadNew(kMaxLoginsPerReport);
      return read.status();
    });
    if (stop) return;
    if (!read->empty()) {
      // Who is privileged now, from the files root owns (a uid-0 account made a second ago
      // counts): not the last full inventory, which may be a minute old.
      const std::vector<HostLogin> found =
          ClassifyLogins(*read, CollectInventory(c.inventory_root, c.break_glass, /*keys=*/false));
      if (!found.empty()) {
        pb::InventoryReport req;
        for (const HostLogin& l : found) ToProto(l, req.add_logins());
        if (!Retry(stop, c.reconnect_max_ms, "logins", [&] { return SendReport(req); })) return;
      }
      // Read past only once reported (logins of nobody privileged at once); a failed commit is
      // retried, and the controller counts a login it is sent twice once.
      if (!Retry(stop, c.reconnect_max_ms, "login records' place", [&] { return records.Commit(); })) return;
    }
    if (read->size() < kMaxLoginsPerReport)
      for (int t = 0; t < 20 && !stop; t++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace warden
