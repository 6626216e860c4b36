#include "gateway/sshgw.h"

#include <arpa/inet.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>

#include <cctype>
#include <chrono>
#include <deque>
#include <list>
#include <thread>

#include "common/crypto.h"
#include "common/files.h"
#include "common/ssh_login.h"
#include "common/sshkey.h"
#include "common/strings.h"
#include "daemon/log.h"
#include "daemon/proto_convert.h"
#include "gateway/session_text.h"
#include "warden/v1/gateway.grpc.pb.h"

namespace warden {

namespace pb = ::warden::v1;

namespace {

constexpr int kMaxAuthAttempts = 10;
// Input held while a channel waits (for its moderators, or for the target): beyond it the
// session ends rather than grow.
constexpr size_t kMaxHeldInput = 1 << 20;
// Events of a connection's channels before its session opens (requests, window sizes).
constexpr size_t kMaxEarlyEvents = 256;
// Channels (session and jump) one connection may hold open at once.
constexpr size_t kMaxChannels = 16;

}  // namespace

// One operator connection: its authentication, the second leg, and every channel relayed.
// Everything libssh does for it happens on its own thread; the controller's word on the session
// (moderators, terminations) arrives from the upload thread through atomics and an eventfd.
class BrokerConnection {
 public:
  // `peer` and `jump_target`: for a connection nested in another's jump channel (ssh -J), the
  // outer client's address and the host its channel named (the target when the user name has
  // none).
  BrokerConnection(Gateway& gw, ssh_session op, std::string peer = "", std::string jump_target = "")
      : gw_(gw), op_(op), peer_(std::move(peer)), jump_target_(std::move(jump_target)) {}
  ~BrokerConnection();
  void Serve();

  // From the upload thread.
  void Control(const SessionControl& c) {
    moderators_ = c.moderators;
    if (!c.terminated_by.empty()) {
      std::lock_guard lock(mu_);
      terminate_ = StrCat("ended by ", c.terminated_by, c.reason.empty() ? "" : ": ", c.reason);
    }
    Wake();
  }
  void ModeratorsLost() {
    moderators_ = 0;
    Wake();
  }

 private:
  // One session channel: `down` to the operator, `up` to the target.
  struct Relay {
    BrokerConnection* conn = nullptr;
    ssh_channel down = nullptr, up = nullptr;
    uint32_t terminal = 0;
    ssh_channel_callbacks_struct down_cb{}, up_cb{};
    // What the operator asked for, done on the target in order by Pump (never inside a libssh
    // callback of the other session).
    std::string term;
    int cols = 80, rows = 24;
    bool pty = false;
    enum class Start { kNone, kShell, kExec, kSftp } start = Start::kNone;
    std::string command;
    bool started = false;    // the start request went to the target
    bool announced = false;  // the wait for moderators was shown
    std::string input;       // operator -> target, not yet written
    bool input_eof = false, eof_sent = false;
    bool down_closed = false, up_closed = false;
    bool resize_pending = false;
    std::unique_ptr<InputRecorder> keys;  // redaction of the line typed at a password prompt
    std::unique_ptr<SftpWatcher> sftp;    // the files an sftp channel moved
  };
  void RecordSftp(Relay& r, const std::vector<SftpWatcher::Action>& actions);

  // A jump (ssh -J, a direct-tcpip channel): its bytes go to and from a connection nested in
  // this gateway over a socket pair, which authenticates and brokers on its own.
  struct Jump {
    BrokerConnection* conn = nullptr;
    ssh_channel ch = nullptr;
    int fd = -1;
    ssh_channel_callbacks_struct cb{};
    bool done = false;  // the nested connection closed its end
    std::string out;    // operator -> nested bytes its socket did not take yet
    bool eof = false;   // the operator's side ended: shut the socket once `out` is through
  };
  // Writes what it can of j.out to the nested connection's socket (non-blocking: the nested
  // thread may be writing to us at the same moment).
  static void FlushJump(Jump& j);
  static int AuthPubkey(ssh_session, const char* user, ssh_key key, char state, void* self);
  static int OnMessage(ssh_session, ssh_message msg, void* self);
  static int JumpData(ssh_session, ssh_channel, void* data, uint32_t len, int, void* j);
  static void JumpEof(ssh_session, ssh_channel, void* j);
  static int JumpReadable(socket_t fd, int revents, void* j);
  static ssh_channel OpenSessionChannel(ssh_session, void* self);
  static int DownData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr, void* r);
  static void DownEof(ssh_session, ssh_channel, void* r);
  static void DownClose(ssh_session, ssh_channel, void* r);
  static int DownPty(ssh_session, ssh_channel, const char* term, int w, int h, int, int, void* r);
  static int DownWindow(ssh_session, ssh_channel, int w, int h, int, int, void* r);
  static int DownShell(ssh_session, ssh_channel, void* r);
  static int DownExec(ssh_session, ssh_channel, const char* command, void* r);
  static int DownSubsystem(ssh_session, ssh_channel, const char* name, void* r);
  static int UpData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr, void* r);
  static void UpEof(ssh_session, ssh_channel, void* r);
  static void UpClose(ssh_session, ssh_channel, void* r);
  static void UpExitStatus(ssh_session, ssh_channel, int status, void* r);
  static void UpExitSignal(ssh_session, ssh_channel, const char* sig, int core, const char* msg,
                           const char* lang, void* r);

  int Authenticate(const char* user, ssh_key key);
  // The session at the controller and the second leg, at the first channel that starts; false
  // (the reason told on `r`, the connection ending) if either cannot be had.
  bool OpenLeg(Relay& r);
  void Refuse(const std::string& why);
  bool Pump(Relay& r);  // false: the relay is done
  void Record(uint32_t terminal, decltype(RecordingEvent::kind) kind);
  void Notice(Relay& r, const std::string& text);  // to the operator (stderr), and recorded
  // Ends the session (from anywhere on the connection's thread, callbacks included): the main
  // loop then tells the operator why on every channel (Shutdown) and closes the connection.
  void EndAll(const std::string& why);
  // Frees every channel (relays' both sides, jumps'). REQUIRES: before the sessions disconnect.
  void FreeChannels();
  void FreeRelay(Relay& r);
  void FreeJump(Jump& j);
  void Shutdown(const std::string& why);
  bool QuorumMet() const {
    return session_.moderators_required() == 0 || moderators_ >= session_.moderators_required();
  }
  void Wake() {
    const uint64_t one = 1;
    if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof one);
  }

  Gateway& gw_;
  ssh_session op_;
  SshSession target_;
  ssh_event event_ = nullptr;
  int wake_fd_ = -1;
  ssh_server_callbacks_struct server_cb_{};
  std::string peer_;
  const std::string jump_target_;
  std::list<Jump> jumps_;
  int auth_attempts_ = 0;
  bool told_plain_key_ = false;
  bool authenticated_ = false;
  // What the controller said of the certificate (at authentication), then the session it
  // opened (at the first channel); its password field is wiped once the second leg is in.
  pb::BrokerSession session_;
  pb::OpenBrokerSessionRequest open_;
  bool leg_failed_ = false;
  std::vector<std::pair<uint32_t, decltype(RecordingEvent::kind)>> early_;
  bool recording_ = false;
  int64_t start_mono_ = 0;
  uint32_t next_terminal_ = 0;
  uint32_t redacted_lines_ = 0;
  std::list<Relay> relays_;
  std::atomic<uint32_t> moderators_{0};
  bool held_since_set_ = false;
  int64_t held_since_ = 0;
  bool ever_quorum_ = false;
  bool shut_ = false;
  std::mutex mu_;
  std::string terminate_;  // guarded by mu_
};

// A channel freed before its peer's CLOSE stays alive in libssh until that CLOSE arrives, and
// would call back into the Relay or Jump it points at: its callbacks go first.
void BrokerConnection::FreeRelay(Relay& r) {
  if (r.up) {
    ssh_remove_channel_callbacks(r.up, &r.up_cb);
    ssh_channel_free(r.up);
    r.up = nullptr;
  }
  if (r.down) {
    ssh_remove_channel_callbacks(r.down, &r.down_cb);
    ssh_channel_free(r.down);
    r.down = nullptr;
  }
}

void BrokerConnection::FreeJump(Jump& j) {
  ssh_remove_channel_callbacks(j.ch, &j.cb);
  if (event_) ssh_event_remove_fd(event_, j.fd);
  close(j.fd);
  ssh_channel_free(j.ch);
}

void BrokerConnection::FreeChannels() {
  for (Jump& j : jumps_) FreeJump(j);
  jumps_.clear();
  for (Relay& r : relays_) FreeRelay(r);
  relays_.clear();
}

BrokerConnection::~BrokerConnection() {
  // Before any disconnect: ssh_disconnect frees a session's channels itself.
  FreeChannels();
  if (event_) {
    if (target_) ssh_event_remove_session(event_, target_.get());
    ssh_event_remove_session(event_, op_);
    if (wake_fd_ >= 0) ssh_event_remove_fd(event_, wake_fd_);
    ssh_event_free(event_);
  }
  if (wake_fd_ >= 0) close(wake_fd_);
  target_.reset();
  ssh_disconnect(op_);
  ssh_free(op_);
}

void BrokerConnection::Refuse(const std::string& why) {
  LogLine(LOG_NOTICE, StrCat("refused ", peer_, ": ", why));
  const std::string text = StrCat("warden-sshgw: ", why, "\n");
  ssh_string banner = ssh_string_from_char(text.c_str());
  if (banner) {
    ssh_send_issue_banner(op_, banner);
    ssh_string_free(banner);
  }
}

int BrokerConnection::AuthPubkey(ssh_session, const char* user, ssh_key key, char state,
                                 void* self) {
  auto* c = static_cast<BrokerConnection*>(self);
  if (++c->auth_attempts_ > kMaxAuthAttempts || c->authenticated_) return SSH_AUTH_DENIED;
  const char* type = ssh_key_type_to_char(ssh_key_type(key));
  if (!type || !std::string_view(type).ends_with("-cert-v01@openssh.com")) {
    if (!c->told_plain_key_) {
      c->told_plain_key_ = true;
      c->Refuse("only Warden certificates log in here: sign your key under a grant (wardenctl "
                "cert sign --grant ID)");
    }
    return SSH_AUTH_DENIED;
  }
  // A probe: the certificate may be used; its signature comes next.
  if (state == SSH_PUBLICKEY_STATE_NONE) return SSH_AUTH_SUCCESS;
  if (state != SSH_PUBLICKEY_STATE_VALID) return SSH_AUTH_DENIED;
  return c->Authenticate(user ? user : "", key);
}

int BrokerConnection::Authenticate(const char* user, ssh_key key) {
  // For a certificate key, libssh exports the whole certificate blob.
  char* b64 = nullptr;
  const int exported = ssh_pki_export_pubkey_base64(key, &b64);
  absl::StatusOr<Bytes> blob = exported == SSH_OK ? Base64Decode(b64) : absl::InternalError("");
  ssh_string_free_char(b64);
  if (!blob.ok()) return SSH_AUTH_DENIED;
  absl::StatusOr<BrokerUser> who = ParseBrokerUser(user);
  if (!who.ok()) {
    Refuse(std::string(who.status().message()));
    return SSH_AUTH_DENIED;
  }
  open_.set_certificate(std::string(AsChars(*blob)));
  open_.set_principal(who->principal);
  open_.set_target(who->target.empty() ? jump_target_ : who->target);
  open_.set_client_address(peer_);
  // Checked now, opened at the first channel: a connection that only jumps (ssh -J) takes no
  // credential and records nothing itself.
  open_.set_check_only(true);
  absl::Status st = gw_.uplink().OpenSession(open_, &session_);
  open_.set_check_only(false);
  if (!st.ok()) {
    Refuse(std::string(st.message()));
    return SSH_AUTH_DENIED;
  }
  authenticated_ = true;
  return SSH_AUTH_SUCCESS;
}

bool BrokerConnection::OpenLeg(Relay& r) {
  if (target_) return true;
  if (leg_failed_) return false;
  absl::Status st = gw_.uplink().OpenSession(open_, &session_);
  // Registered before the second leg logs in: a terminate or revocation meanwhile is kept.
  if (st.ok()) gw_.Register(session_.session_id(), this);
  if (st.ok()) {
    SshLoginTarget t{session_.host(), session_.port(), session_.login(),
                     ToBytes(session_.host_key()), session_.target(), 10};
    absl::StatusOr<SshSession> leg = SshPasswordLogin(t, session_.password());
    if (leg.ok()) {
      target_ = std::move(*leg);
    } else {
      LogLine(LOG_ERR, StrCat("session ", session_.session_id(), " of ", session_.user(), " to ",
                              session_.target(), ": the second leg failed: ", leg.status().message()));
      st = absl::Status(leg.status().code(), StrCat("cannot log in to ", session_.target(), ": ",
                                                   leg.status().message()));
    }
  }
  OPENSSL_cleanse(session_.mutable_password()->data(), session_.password().size());
  session_.clear_password();
  if (!st.ok()) {
    leg_failed_ = true;
    Notice(r, std::string(st.message()));
    if (!session_.session_id().empty()) {
      gw_.uplink().Unregister(session_.session_id());
      gw_.uplink().CloseSession(session_.session_id());
    }
    EndAll(std::string(st.message()));
    return false;
  }
  ssh_event_add_session(event_, target_.get());
  start_mono_ = gw_.uplink().BeginRecording(session_, peer_);
  recording_ = true;
  // What the channels recorded before the session existed (their requests) goes in now.
  for (auto& [terminal, kind] : early_) Record(terminal, std::move(kind));
  early_.clear();
  return true;
}

void BrokerConnection::Record(uint32_t terminal, decltype(RecordingEvent::kind) kind) {
  if (!recording_) {
    // Held until the session opens; nothing is dropped: past the bound the connection ends.
    if (early_.size() >= kMaxEarlyEvents) {
      EndAll("too many requests before the session started");
      return;
    }
    early_.emplace_back(terminal, std::move(kind));
    return;
  }
  const int64_t now = MonoNs();
  RecordingEvent ev;
  ev.offset_ns = now - start_mono_;
  ev.terminal = terminal;
  ev.kind = std::move(kind);
  gw_.uplink().spool().Add(session_.session_id(), now, {}, std::move(ev));
}

void BrokerConnection::Notice(Relay& r, const std::string& text) {
  const std::string line = StrCat(r.pty ? "\r\n" : "", "warden-sshgw: ", text, r.pty ? "\r\n" : "\n");
  ssh_channel_write_stderr(r.down, line.data(), static_cast<uint32_t>(line.size()));
  Record(r.terminal, TerminalOutput{line});
}

int BrokerConnection::OnMessage(ssh_session, ssh_message msg, void* self) {
  auto* c = static_cast<BrokerConnection*>(self);
  if (!c->authenticated_ || c->shut_ || ssh_message_type(msg) != SSH_REQUEST_CHANNEL_OPEN ||
      ssh_message_subtype(msg) != SSH_CHANNEL_DIRECT_TCPIP ||
      c->relays_.size() + c->jumps_.size() >= kMaxChannels)
    return 1;  // refused: forwarding, agent, X11, environment, other channel types
  const char* host = ssh_message_channel_request_open_destination(msg);
  const std::string target = host ? std::string(host).substr(0, 64) : "";
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 1;
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  ssh_channel ch = ssh_message_channel_request_open_reply_accept(msg);
  if (!ch) {
    close(sv[0]);
    close(sv[1]);
    return 0;
  }
  Jump& j = c->jumps_.emplace_back();
  j.conn = c;
  j.ch = ch;
  j.fd = sv[0];
  ssh_callbacks_init(&j.cb);
  j.cb.userdata = &j;
  j.cb.channel_data_function = JumpData;
  j.cb.channel_eof_function = JumpEof;
  j.cb.channel_close_function = JumpEof;
  ssh_set_channel_callbacks(ch, &j.cb);
  ssh_event_add_fd(c->event_, j.fd, POLLIN, JumpReadable, &j);
  LogLine(LOG_INFO, StrCat(c->peer_, " jumps to ", target, " through this gateway (ssh -J)"));
  c->gw_.ServeNested(sv[1], c->peer_, target);
  return 0;
}

void BrokerConnection::FlushJump(Jump& j) {
  while (!j.out.empty() && !j.done) {
    const ssize_t n = write(j.fd, j.out.data(), j.out.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      j.done = true;
      return;
    }
    j.out.erase(0, static_cast<size_t>(n));
  }
  if (j.out.empty() && j.eof) shutdown(j.fd, SHUT_WR);
}

int BrokerConnection::JumpData(ssh_session, ssh_channel, void* data, uint32_t len, int, void* jp) {
  auto& j = *static_cast<Jump*>(jp);
  if (j.out.size() + len > kMaxHeldInput) {
    j.done = true;  // the nested connection stopped reading: the jump ends
    return static_cast<int>(len);
  }
  j.out.append(static_cast<const char*>(data), len);
  FlushJump(j);
  return static_cast<int>(len);
}

void BrokerConnection::JumpEof(ssh_session, ssh_channel, void* jp) {
  auto& j = *static_cast<Jump*>(jp);
  j.eof = true;
  FlushJump(j);
}

int BrokerConnection::JumpReadable(socket_t fd, int, void* jp) {
  auto& j = *static_cast<Jump*>(jp);
  char buf[64 << 10];
  const ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) {
    if (ssh_channel_write(j.ch, buf, static_cast<uint32_t>(n)) == SSH_ERROR) j.done = true;
  } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
    j.done = true;
  }
  return 0;
}

ssh_channel BrokerConnection::OpenSessionChannel(ssh_session, void* self) {
  auto* c = static_cast<BrokerConnection*>(self);
  if (!c->authenticated_ || c->shut_ || c->relays_.size() + c->jumps_.size() >= kMaxChannels)
    return nullptr;
  Relay& r = c->relays_.emplace_back();
  r.conn = c;
  r.down = ssh_channel_new(c->op_);
  if (!r.down) {
    c->relays_.pop_back();
    return nullptr;
  }
  r.terminal = c->next_terminal_++;
  r.keys = std::make_unique<InputRecorder>(c->session_.recording_input());
  ssh_callbacks_init(&r.down_cb);
  r.down_cb.userdata = &r;
  r.down_cb.channel_data_function = DownData;
  r.down_cb.channel_eof_function = DownEof;
  r.down_cb.channel_close_function = DownClose;
  r.down_cb.channel_pty_request_function = DownPty;
  r.down_cb.channel_pty_window_change_function = DownWindow;
  r.down_cb.channel_shell_request_function = DownShell;
  r.down_cb.channel_exec_request_function = DownExec;
  r.down_cb.channel_subsystem_request_function = DownSubsystem;
  ssh_set_channel_callbacks(r.down, &r.down_cb);
  return r.down;
}

int BrokerConnection::DownData(ssh_session, ssh_channel, void* data, uint32_t len, int, void* rp) {
  auto& r = *static_cast<Relay*>(rp);
  if (r.input.size() + len > kMaxHeldInput) {
    r.conn->EndAll("more input is waiting than the gateway holds");
    return static_cast<int>(len);
  }
  r.input.append(static_cast<const char*>(data), len);
  return static_cast<int>(len);
}

void BrokerConnection::DownEof(ssh_session, ssh_channel, void* rp) {
  static_cast<Relay*>(rp)->input_eof = true;
}

void BrokerConnection::DownClose(ssh_session, ssh_channel, void* rp) {
  auto& r = *static_cast<Relay*>(rp);
  r.down_closed = true;
  r.input_eof = true;
}

int BrokerConnection::DownPty(ssh_session, ssh_channel, const char* term, int w, int h, int, int,
                              void* rp) {
  auto& r = *static_cast<Relay*>(rp);
  if (!r.conn->session_.pty_allowed() || r.start != Relay::Start::kNone) return -1;
  r.pty = true;
  r.term = term ? std::string(term).substr(0, 64) : "xterm";
  r.cols = w > 0 ? w : 80;
  r.rows = h > 0 ? h : 24;
  r.conn->Record(r.terminal, TerminalResize{static_cast<uint32_t>(r.cols), static_cast<uint32_t>(r.rows)});
  return 0;
}

int BrokerConnection::DownWindow(ssh_session, ssh_channel, int w, int h, int, int, void* rp) {
  auto& r = *static_cast<Relay*>(rp);
  if (!r.pty || w <= 0 || h <= 0) return -1;
  r.cols = w;
  r.rows = h;
  r.resize_pending = true;
  r.conn->Record(r.terminal, TerminalResize{static_cast<uint32_t>(w), static_cast<uint32_t>(h)});
  return 0;
}

int BrokerConnection::DownShell(ssh_session, ssh_channel, void* rp) {
  auto& r = *static_cast<Relay*>(rp);
  BrokerConnection& c = *r.conn;
  if (r.start != Relay::Start::kNone) return -1;
  if (!c.session_.force_command().empty()) return DownExec(nullptr, nullptr, "", rp);
  bool allowed = false;
  for (const auto& a : c.session_.allow()) allowed = allowed || a == "shell";
  if (!allowed) {
    LogLine(LOG_NOTICE, StrCat("session ", c.session_.session_id(), ": shell refused by the role"));
    return -1;
  }
  r.start = Relay::Start::kShell;
  c.Record(r.terminal, ExecEvent{0, 0, "shell", {"shell"}, "", 5, false});
  return 0;
}

int BrokerConnection::DownExec(ssh_session, ssh_channel, const char* command, void* rp) {
  auto& r = *static_cast<Relay*>(rp);
  BrokerConnection& c = *r.conn;
  if (r.start != Relay::Start::kNone) return -1;
  std::string cmd = command ? command : "";
  if (!c.session_.force_command().empty()) cmd = c.session_.force_command();
  bool exec = false, sftp = false;
  for (const auto& a : c.session_.allow()) {
    exec = exec || a == "exec";
    sftp = sftp || a == "sftp";
  }
  // scp's legacy protocol runs "scp -t/-f" over exec, and an sftp server can be started by
  // name: file transfers, as the sftp subsystem is.
  const bool scp = cmd.find("scp") != std::string::npos || cmd.find("sftp") != std::string::npos;
  if (!exec || (scp && !sftp)) {
    LogLine(LOG_NOTICE, StrCat("session ", c.session_.session_id(), ": ", scp ? "scp" : "exec",
                               " refused by the role"));
    return -1;
  }
  r.start = Relay::Start::kExec;
  r.command = cmd.substr(0, 64 << 10);
  c.Record(r.terminal, ExecEvent{0, 0, "exec", {r.command}, "",
                                 static_cast<uint32_t>(cmd.size()), cmd.size() > r.command.size()});
  return 0;
}

int BrokerConnection::DownSubsystem(ssh_session, ssh_channel, const char* name, void* rp) {
  auto& r = *static_cast<Relay*>(rp);
  BrokerConnection& c = *r.conn;
  // As sshd: a certificate's force-command replaces a subsystem too.
  if (!c.session_.force_command().empty()) return DownExec(nullptr, nullptr, "", rp);
  bool sftp = false;
  for (const auto& a : c.session_.allow()) sftp = sftp || a == "sftp";
  if (r.start != Relay::Start::kNone || !name || std::string(name) != "sftp" || !sftp) {
    LogLine(LOG_NOTICE, StrCat("session ", c.session_.session_id(), ": subsystem ",
                               name ? std::string(name).substr(0, 64) : "", " refused by the role"));
    return -1;
  }
  r.start = Relay::Start::kSftp;
  r.sftp = std::make_unique<SftpWatcher>();
  c.Record(r.terminal, ExecEvent{0, 0, "subsystem", {"sftp"}, "", 4, false});
  return 0;
}

int BrokerConnection::UpData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                             void* rp) {
  auto& r = *static_cast<Relay*>(rp);
  const char* p = static_cast<const char*>(data);
  int written = is_stderr ? ssh_channel_write_stderr(r.down, p, len) : ssh_channel_write(r.down, p, len);
  if (written == SSH_ERROR) r.down_closed = true;
  if (r.start != Relay::Start::kSftp) {
    r.conn->Record(r.terminal, TerminalOutput{std::string(p, len)});
    if (r.pty) r.keys->Output(std::string_view(p, len));
  } else if (!is_stderr) {
    r.conn->RecordSftp(r, r.sftp->FromServer(std::string_view(p, len)));
  }
  return static_cast<int>(len);
}

void BrokerConnection::UpEof(ssh_session, ssh_channel, void* rp) {
  auto& r = *static_cast<Relay*>(rp);
  if (!r.down_closed) ssh_channel_send_eof(r.down);
}

void BrokerConnection::UpClose(ssh_session, ssh_channel, void* rp) {
  static_cast<Relay*>(rp)->up_closed = true;
}

void BrokerConnection::UpExitStatus(ssh_session, ssh_channel, int status, void* rp) {
  auto& r = *static_cast<Relay*>(rp);
  if (!r.down_closed) ssh_channel_request_send_exit_status(r.down, status);
}

void BrokerConnection::UpExitSignal(ssh_session, ssh_channel, const char* sig, int core,
                                    const char* msg, const char* lang, void* rp) {
  auto& r = *static_cast<Relay*>(rp);
  if (!r.down_closed) ssh_channel_request_send_exit_signal(r.down, sig ? sig : "KILL", core, msg ? msg : "", lang ? lang : "");
}

void BrokerConnection::RecordSftp(Relay& r, const std::vector<SftpWatcher::Action>& actions) {
  for (const SftpWatcher::Action& a : actions) {
    std::vector<std::string> argv = {"sftp"};
    argv.insert(argv.end(), a.argv.begin(), a.argv.end());
    uint32_t bytes = 0;
    for (const std::string& x : argv) bytes += static_cast<uint32_t>(x.size() + 1);
    Record(r.terminal, ExecEvent{0, 0, "sftp", std::move(argv), "", bytes, false});
  }
}

bool BrokerConnection::Pump(Relay& r) {
  if (r.up_closed) {
    if (r.sftp) RecordSftp(r, r.sftp->Close());
    if (!r.down_closed) {
      ssh_channel_send_eof(r.down);
      ssh_channel_close(r.down);
      r.down_closed = true;
    }
    return false;
  }
  if (r.down_closed && (!r.started || r.input.empty())) {
    if (r.up && ssh_channel_is_open(r.up)) ssh_channel_close(r.up);
    return false;
  }
  if (r.start == Relay::Start::kNone) return true;
  if (!r.started) {
    if (!OpenLeg(r)) return false;
    if (!QuorumMet()) {
      if (!r.announced) {
        r.announced = true;
        Notice(r, StrCat("this session waits for ", session_.moderators_required(),
                         " moderator(s) to watch it: wardenctl join --mode moderator ",
                         session_.session_id()));
      }
      return true;
    }
    if (r.announced) Notice(r, "a moderator joined: the session starts");
    r.up = ssh_channel_new(target_.get());
    if (!r.up) {
      EndAll("out of memory");
      return false;
    }
    ssh_callbacks_init(&r.up_cb);
    r.up_cb.userdata = &r;
    r.up_cb.channel_data_function = UpData;
    r.up_cb.channel_eof_function = UpEof;
    r.up_cb.channel_close_function = UpClose;
    r.up_cb.channel_exit_status_function = UpExitStatus;
    r.up_cb.channel_exit_signal_function = UpExitSignal;
    ssh_set_channel_callbacks(r.up, &r.up_cb);
    int rc = ssh_channel_open_session(r.up);
    if (rc == SSH_OK && r.pty)
      rc = ssh_channel_request_pty_size(r.up, r.term.c_str(), r.cols, r.rows);
    if (rc == SSH_OK) {
      rc = r.start == Relay::Start::kShell ? ssh_channel_request_shell(r.up)
           : r.start == Relay::Start::kExec ? ssh_channel_request_exec(r.up, r.command.c_str())
                                             : ssh_channel_request_subsystem(r.up, "sftp");
    }
    r.started = true;
    r.resize_pending = false;
    if (rc != SSH_OK) {
      Notice(r, StrCat(session_.target(), " refused the channel: ", ssh_get_error(target_.get())));
      ssh_channel_request_send_exit_status(r.down, 255);
      ssh_channel_send_eof(r.down);
      ssh_channel_close(r.down);
      r.down_closed = true;
      return false;
    }
  }
  if (r.resize_pending) {
    r.resize_pending = false;
    ssh_channel_change_pty_size(r.up, r.cols, r.rows);
  }
  // A paused session (a moderator left under on_leave: pause) relays nothing typed.
  if (!r.input.empty() && QuorumMet()) {
    // Written from a buffer of its own: a write that waits for the target's window polls the
    // operator's session too, whose data callback appends to r.input.
    std::string chunk = std::move(r.input);
    r.input.clear();
    const int n = ssh_channel_write(r.up, chunk.data(), static_cast<uint32_t>(chunk.size()));
    if (n == SSH_ERROR) {
      OPENSSL_cleanse(chunk.data(), chunk.size());
      r.up_closed = true;
      return true;
    }
    const std::string_view sent(chunk.data(), static_cast<size_t>(n));
    if (r.start == Relay::Start::kSftp) {
      RecordSftp(r, r.sftp->FromClient(sent));
    } else {
      for (auto& ev : r.keys->Input(sent, &redacted_lines_)) Record(r.terminal, std::move(ev));
    }
    r.input.insert(0, chunk, static_cast<size_t>(n));
    OPENSSL_cleanse(chunk.data(), chunk.size());
  }
  if (r.input_eof && r.input.empty() && !r.eof_sent) {
    r.eof_sent = true;
    ssh_channel_send_eof(r.up);
  }
  return true;
}

void BrokerConnection::EndAll(const std::string& why) {
  std::lock_guard lock(mu_);
  if (terminate_.empty()) terminate_ = why;
}

void BrokerConnection::Shutdown(const std::string& why) {
  LogLine(LOG_NOTICE, StrCat("session ", session_.session_id(), " of ", session_.user(), " ends: ", why));
  Record(0, SessionAlert{"ended", why});
  for (Relay& r : relays_) {
    if (!r.down_closed) {
      Notice(r, StrCat("session ended: ", why));
      ssh_channel_request_send_exit_status(r.down, 255);
      ssh_channel_send_eof(r.down);
      ssh_channel_close(r.down);
      r.down_closed = true;
    }
    if (r.up && ssh_channel_is_open(r.up)) ssh_channel_close(r.up);
    r.up_closed = true;
  }
}

void BrokerConnection::Serve() {
  if (peer_.empty()) peer_ = PeerAddress(ssh_get_fd(op_));
  const int one = 1;
  setsockopt(ssh_get_fd(op_), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ssh_callbacks_init(&server_cb_);
  server_cb_.userdata = this;
  server_cb_.auth_pubkey_function = AuthPubkey;
  server_cb_.channel_open_request_session_function = OpenSessionChannel;
  ssh_set_server_callbacks(op_, &server_cb_);
  ssh_set_message_callback(op_, OnMessage, this);
  ssh_set_auth_methods(op_, SSH_AUTH_METHOD_PUBLICKEY);
  if (ssh_handle_key_exchange(op_) != SSH_OK) {
    LogLine(LOG_INFO, StrCat("key exchange with ", peer_, " failed: ", ssh_get_error(op_)));
    return;
  }
  event_ = ssh_event_new();
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (!event_ || wake_fd_ < 0 || ssh_event_add_session(event_, op_) != SSH_OK) return;
  const auto login_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(gw_.config().logon_grace_seconds);
  while (!authenticated_) {
    if (std::chrono::steady_clock::now() > login_deadline || auth_attempts_ > kMaxAuthAttempts ||
        ssh_event_dopoll(event_, 200) == SSH_ERROR || !ssh_is_connected(op_))
      return;
  }
  ssh_event_add_fd(event_, wake_fd_, POLLIN,
                   [](socket_t fd, int, void*) {
                     uint64_t n;
                     while (read(fd, &n, sizeof n) > 0) {
                     }
                     return 0;
                   },
                   nullptr);
  const int64_t expires = session_.expires_unix();
  std::string ended;
  auto ending_since = std::chrono::steady_clock::now();
  while (true) {
    bool pending = false;
    for (const Jump& j : jumps_) pending = pending || !j.out.empty();
    const int rc = ssh_event_dopoll(event_, !ended.empty() ? 50 : pending ? 10 : 250);
    if (rc == SSH_ERROR || !ssh_is_connected(op_)) {
      if (ended.empty()) ended = "the operator disconnected";
      break;
    }
    if (ended.empty()) {
      std::lock_guard lock(mu_);
      ended = terminate_;
    }
    if (!ended.empty()) {
      // Told on every channel once; the operator's client then closes them and disconnects
      // (having shown the reason: a disconnect from here first could cut it off), or after two
      // seconds the connection is closed under it.
      if (!shut_) {
        shut_ = true;
        ending_since = std::chrono::steady_clock::now();
        Shutdown(ended);
      }
      if (std::chrono::steady_clock::now() - ending_since > std::chrono::seconds(2)) break;
      for (auto it = relays_.begin(); it != relays_.end();) {
        if (ssh_channel_is_closed(it->down)) {
          FreeRelay(*it);
          it = relays_.erase(it);
        } else {
          ++it;
        }
      }
      continue;
    }
    if (target_ && !ssh_is_connected(target_.get())) {
      EndAll(StrCat(session_.target(), " closed the connection"));
      continue;
    }
    if (time(nullptr) >= expires) {
      EndAll("the grant's lease ended");
      continue;
    }
    // Four-eyes: the hold at the start is shown per channel (Pump); below the quorum later,
    // on_leave decides: terminate, or pause (input held until a moderator is back).
    if (recording_ && session_.moderators_required() > 0) {
      if (QuorumMet()) {
        ever_quorum_ = true;
        held_since_set_ = false;
      } else {
        if (!held_since_set_) {
          held_since_set_ = true;
          held_since_ = time(nullptr);
        }
        if (ever_quorum_ && session_.moderator_on_leave() != "pause") {
          EndAll("the moderators left");
          continue;
        }
        if (time(nullptr) - held_since_ >= session_.moderator_wait_seconds()) {
          EndAll(StrCat("no moderator watched it within ", session_.moderator_wait_seconds(), " s"));
          continue;
        }
      }
    }
    for (auto it = jumps_.begin(); it != jumps_.end();) {
      FlushJump(*it);
      if (!it->done && !ssh_channel_is_closed(it->ch)) {
        ++it;
        continue;
      }
      if (ssh_channel_is_open(it->ch)) {
        ssh_channel_send_eof(it->ch);
        ssh_channel_close(it->ch);
      }
      FreeJump(*it);
      it = jumps_.erase(it);
    }
    for (auto it = relays_.begin(); it != relays_.end();) {
      if (Pump(*it)) {
        ++it;
        continue;
      }
      // Freed once neither side can call back into it.
      if (ssh_channel_is_closed(it->down) || !ssh_is_connected(op_)) {
        FreeRelay(*it);
        it = relays_.erase(it);
      } else {
        ++it;
      }
    }
  }
  FreeChannels();
  if (!recording_) {
    ssh_disconnect(op_);
    return;
  }
  LogLine(LOG_INFO, StrCat("session ", session_.session_id(), " ended: ", ended));
  gw_.uplink().Unregister(session_.session_id());
  gw_.uplink().spool().Close(session_.session_id(), MonoNs(), UnixNs(), {});
  // Close the second leg before the credential is checked in and rotated.
  ssh_event_remove_session(event_, target_.get());
  target_.reset();
  ssh_disconnect(op_);
  gw_.uplink().CloseSession(session_.session_id());
}

Gateway::Gateway(GatewayConfig config, HostEnrollment enrollment)
    : config_(std::move(config)), uplink_(config_.state, std::move(enrollment), "warden-sshgw") {}

Gateway::~Gateway() = default;

void Gateway::Register(const std::string& id, BrokerConnection* c) {
  uplink_.Register(id, {[c](const SessionControl& ctl) { c->Control(ctl); },
                        [c] { c->ModeratorsLost(); }});
}

void Gateway::ServeNested(int fd, const std::string& peer, const std::string& target) {
  ssh_session s = connections_ < config_.max_connections ? ssh_new() : nullptr;
  if (!s) {
    LogLine(LOG_WARNING, StrCat("refused a jump from ", peer, " to ", target,
                                ": max_connections are open"));
    close(fd);
    return;
  }
  int rc = SSH_ERROR;
  {
    std::lock_guard lock(accept_mu_);
    if (bind_) rc = ssh_bind_accept_fd(bind_, s, fd);
  }
  if (rc != SSH_OK) {
    LogLine(LOG_WARNING, StrCat("refused a jump from ", peer, " to ", target,
                                ": the nested connection could not start"));
    ssh_free(s);  // it owns the descriptor from here (closed with it)
    return;
  }
  Spawn(s, peer, target);
}

void Gateway::Spawn(ssh_session s, std::string peer, std::string target) {
  const long timeout = config_.logon_grace_seconds;
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
  connections_++;
  std::thread([this, s, peer = std::move(peer), target = std::move(target)] {
    {
      BrokerConnection c(*this, s, peer, target);
      c.Serve();
    }
    connections_--;
  }).detach();
}

absl::Status Gateway::Run(const std::atomic<bool>& stop, Heartbeat* beat) {
  ssh_bind bind = ssh_bind_new();
  if (!bind) return absl::ResourceExhaustedError("ssh_bind_new failed");
  const bool no = false;
  const int port = config_.listen_port;
  const std::string key = config_.HostKeyPath();
  if (ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK ||
      ssh_bind_options_set(bind, SSH_BIND_OPTIONS_BINDADDR, config_.listen_address.c_str()) != SSH_OK ||
      ssh_bind_options_set(bind, SSH_BIND_OPTIONS_BINDPORT, &port) != SSH_OK ||
      ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HOSTKEY, key.c_str()) != SSH_OK ||
      // The operator's client picks from its own list: it gets AES-GCM unless it lacks it
      // (then chacha20-poly1305 or AES-CTR).
      ssh_bind_options_set(bind, SSH_BIND_OPTIONS_CIPHERS_C_S, kSshCipherPreference) != SSH_OK ||
      ssh_bind_options_set(bind, SSH_BIND_OPTIONS_CIPHERS_S_C, kSshCipherPreference) != SSH_OK ||
      ssh_bind_listen(bind) != SSH_OK) {
    absl::Status st = absl::FailedPreconditionError(
        StrCat("cannot listen on ", config_.listen_address, ":", port, " with host key ", key,
               ": ", ssh_get_error(bind)));
    ssh_bind_free(bind);
    return st;
  }
  LogLine(LOG_INFO, StrCat("listening on ", config_.listen_address, ":", port, " as ",
                           uplink_.enrollment().host_id, " (tier ", uplink_.enrollment().tier, ")"));
  uplink_.Start();
  while (!stop) {
    if (beat) beat->Beat();
    pollfd p{ssh_bind_get_fd(bind), POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    ssh_session s = ssh_new();
    if (!s) continue;
    int rc;
    {
      std::lock_guard lock(accept_mu_);
      bind_ = bind;
      rc = ssh_bind_accept(bind, s);
    }
    if (rc != SSH_OK) {
      ssh_free(s);
      continue;
    }
    if (connections_ >= config_.max_connections) {
      LogLine(LOG_WARNING, StrCat("refused a connection: ", config_.max_connections,
                                  " are open (max_connections)"));
      ssh_disconnect(s);
      ssh_free(s);
      continue;
    }
    Spawn(s, "", "");
  }
  {
    std::lock_guard lock(accept_mu_);
    bind_ = nullptr;
  }
  ssh_bind_free(bind);
  uplink_.Shutdown(connections_);
  return absl::OkStatus();
}

}  // namespace warden
