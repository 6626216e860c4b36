#include "gateway/uplink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <libssh/libssh.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "common/crypto.h"
#include "common/files.h"
#include "common/sshkey.h"
#include "common/strings.h"
#include "daemon/log.h"
#include "daemon/proto_convert.h"

namespace warden {

namespace pb = ::warden::v1;

std::string CertificateSha256(const std::string& pem_path) {
  absl::StatusOr<std::string> pem = ReadFile(pem_path);
  if (!pem.ok()) return "?";
  absl::StatusOr<X509Ptr> cert = ReadCertificatePem(*pem);
  if (!cert.ok()) return "?";
  unsigned char* der = nullptr;
  const int n = i2d_X509(cert->get(), &der);
  std::string out = n > 0 ? HexEncode(Sha256(ByteSpan(der, static_cast<size_t>(n)))) : "?";
  OPENSSL_free(der);
  return out;
}

int64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t UnixNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string PeerAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr)) {
      inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], buf, sizeof buf);
    } else {
      inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof buf);
    }
  }
  return buf;
}

GatewayUplink::GatewayUplink(const HostConfig& state, HostEnrollment enrollment, std::string program)
    : state_(state), enrollment_(std::move(enrollment)), program_(std::move(program)),
      spool_(EncodeRecordingEvents,
             SpoolLimits{.max_unacked_bytes = static_cast<size_t>(state.recording_buffer_mb) << 20}) {}

GatewayUplink::~GatewayUplink() { Stop(); }

std::shared_ptr<grpc::Channel> GatewayUplink::Channel() {
  std::lock_guard lock(mu_);
  if (!channel_) channel_ = EnrolledChannel(state_, enrollment_.controller);
  return channel_;
}

absl::Status GatewayUplink::OpenSession(const pb::OpenBrokerSessionRequest& req,
                                        pb::BrokerSession* out) {
  auto channel = Channel();
  if (!channel) return absl::FailedPreconditionError("this gateway is not enrolled (its certificate is missing)");
  grpc::Status st = pb::GatewayService::NewStub(channel)->OpenSession(Deadline(20).get(), req, out);
  if (st.ok()) return absl::OkStatus();
  if (st.error_code() == grpc::StatusCode::UNAVAILABLE ||
      st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
    return absl::UnavailableError(StrCat("the Warden controller cannot be reached (",
                                         st.error_message(), "): no session without it"));
  return absl::PermissionDeniedError(st.error_message());
}

int64_t GatewayUplink::BeginRecording(const pb::BrokerSession& s, const std::string& peer) {
  LogLine(LOG_INFO, StrCat("session ", s.session_id(), ": ", s.user(), " (grant ", s.grant_id(),
                           ") from ", peer, " to ", s.target(), " as ", s.login()));
  SessionInfo info;
  info.user = s.account();
  info.service = program_;
  info.tty = s.target();
  info.rhost = peer;
  info.grant_id = s.grant_id();
  info.started_unix_ns = UnixNs();
  const int64_t start = MonoNs();
  spool_.Open(s.session_id(), info, start, s.recording_mode() == "strict");
  return start;
}

void GatewayUplink::CloseSession(const std::string& session_id) {
  pb::CloseBrokerSessionRequest req;
  req.set_session_id(session_id);
  // A failure is retried; past the retries the check-out ends with its lease instead (a use,
  // rotated by the controller's rotation pass) and the gateway's log says so.
  for (int attempt = 1; attempt <= 3; attempt++) {
    pb::CloseBrokerSessionResponse resp;
    auto channel = Channel();
    grpc::Status st = channel ? pb::GatewayService::NewStub(channel)->CloseSession(
                                    Deadline(60).get(), req, &resp)
                              : grpc::Status(grpc::StatusCode::UNAVAILABLE, "not enrolled");
    if (st.ok()) {
      LogLine(resp.rotation_error().empty() ? LOG_INFO : LOG_ERR,
              StrCat("session ", session_id, " closed at the controller",
                     resp.checked_in() ? "; credential checked in" : "",
                     resp.rotated_version() ? StrCat("; rotated to version ", resp.rotated_version()) : "",
                     resp.rotation_error().empty() ? "" : StrCat("; rotation failed: ", resp.rotation_error())));
      return;
    }
    if (st.error_code() == grpc::StatusCode::NOT_FOUND) {
      LogLine(LOG_WARNING, StrCat("session ", session_id, ": the controller does not know it "
                                  "(restarted since?): ", st.error_message(), "; the check-out "
                                  "ends with its lease, which counts as a use"));
      return;
    }
    LogLine(LOG_ERR, StrCat("alert: closing session ", session_id,
                            " at the controller failed (attempt ", attempt, " of 3): ",
                            st.error_message()));
    std::this_thread::sleep_for(std::chrono::seconds(attempt));
  }
}

void GatewayUplink::Register(const std::string& id, Handlers h) {
  std::lock_guard lock(mu_);
  sessions_[id] = std::move(h);
}

void GatewayUplink::Unregister(const std::string& id) {
  std::lock_guard lock(mu_);
  sessions_.erase(id);
}

void GatewayUplink::OnControl(const std::string& id, const SessionControl& c) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it != sessions_.end()) it->second.control(c);
}


void GatewayUplink::Start() {
  RecordingUplink u;
  u.controller = enrollment_.controller;
  u.reconnect_max_ms = state_.reconnect_max_ms;
  u.channel = [this] { return Channel(); };
  u.control = [this](const std::string& id, const SessionControl& c) { OnControl(id, c); };
  u.lost = [this] {
    std::lock_guard lock(mu_);
    for (auto& [id, h] : sessions_) h.lost();
  };
  u.set_context = [](grpc::ClientContext*) { return true; };
  uplink_ = std::thread([this, u] { RunRecordingUplink(spool_, u, stop_); });
  flusher_ = std::thread([this] {
    while (!stop_) {
      spool_.Flush(MonoNs());
      // Strict sessions whose recording cannot be delivered end (the spool keeps their data).
      for (const std::string& id : spool_.TakeOverflowed()) {
        OnControl(id, {0, program_, "its recording cannot be delivered (strict recording)"});
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
}

void GatewayUplink::Shutdown(const std::atomic<int64_t>& open) {
  stopping_ = true;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, h] : sessions_) h.control({0, program_, "the gateway is stopping"});
  }
  for (int i = 0; i < 1200 && open > 0; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (open > 0)
    LogLine(LOG_ERR, StrCat("alert: ", open.load(), " connection(s) still closing after 60 s; "
                            "their check-outs end with their leases"));
  Stop();
}

void GatewayUplink::Stop() {
  if (!uplink_.joinable()) return;
  for (int i = 0; i < 100 && !spool_.Idle(); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop_ = true;
  spool_.Wake();
  uplink_.join();
  flusher_.join();
}

absl::Status EnrollGateway(const GatewayConfig& c, EnrollOptions o, std::ostream& out) {
  mkdir(c.state.state_dir.c_str(), 0700);
  const std::string key_path = c.HostKeyPath();
  if (access(key_path.c_str(), F_OK) != 0) {
    ssh_key key = nullptr;
    if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
      return absl::InternalError("generating the gateway's Ed25519 host key failed");
    const int wrote = ssh_pki_export_privkey_file(key, nullptr, nullptr, nullptr, key_path.c_str());
    char* b64 = nullptr;
    const int exported = ssh_pki_export_pubkey_base64(key, &b64);
    ssh_key_free(key);
    if (wrote != SSH_OK || exported != SSH_OK) {
      ssh_string_free_char(b64);
      return absl::InternalError(StrCat("writing the host key ", key_path, " failed"));
    }
    chmod(key_path.c_str(), 0600);
    absl::Status st = WriteFileAtomic(key_path + ".pub", StrCat("ssh-ed25519 ", b64, "\n"), 0644);
    ssh_string_free_char(b64);
    RETURN_IF_ERROR(st);
  }
  o.ssh_host_key = key_path + ".pub";
  o.kind = "gateway";
  RETURN_IF_ERROR(EnrollHost(c.state, o, out));
  ASSIGN_OR_RETURN(std::string pub, ReadFile(o.ssh_host_key));
  ASSIGN_OR_RETURN(PublicKey k, ParseAuthorizedKey(pub, nullptr));
  out << "gateway host key: " << Fingerprint(k.blob)
      << " (warden-sshgw: operators pin it in known_hosts)\n"
      << "gateway TLS certificate: sha256:" << CertificateSha256(c.state.StatePath("host.crt"))
      << " (warden-rdpgw: operators' RDP clients pin it)\n";
  return absl::OkStatus();
}

}  // namespace warden
