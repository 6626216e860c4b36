#include "gateway/rdpgw.h"

#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/listener.h>
#include <freerdp/peer.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <winpr/synch.h>
#include <zstd.h>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <system_error>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "common/crypto.h"
#include "common/strings.h"
#include "daemon/log.h"

namespace warden {

namespace pb = ::warden::v1;

namespace {

constexpr int64_t kKeyframeNs = 10'000'000'000;
constexpr uint32_t kBandRows = 64;  // a keyframe is cut in bands this high
constexpr uint32_t kMaxDesktopSide = 8192;  // as wardenctl replays (cli/screen.h)

// Whether `s` has the shape of a ticket's part (core/broker.h): `prefix` then `chars` of
// lowercase base32. Anything else is refused here, without a call to the controller.
bool TicketShaped(const char* s, std::string_view prefix, size_t chars) {
  if (!s) return false;
  const std::string_view v(s);
  if (v.size() != prefix.size() + chars || v.substr(0, prefix.size()) != prefix) return false;
  for (char c : v.substr(prefix.size())) {
    if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) return false;
  }
  return true;
}

class RdpSession;

struct PeerContext {
  rdpContext base;
  RdpSession* session;
};
struct TargetContext {
  rdpContext base;
  RdpSession* session;
};

// One operator connection and its leg to the target, served on one thread: the operator's
// peer and the target's client are both driven from Serve's loop, so every callback of either
// runs there.
class RdpSession {
 public:
  RdpSession(RdpGateway& gw, freerdp_peer* peer) : gw_(gw), peer_(peer) {}
  ~RdpSession();
  void Serve();

 private:
  static RdpSession* Of(rdpContext* c) { return reinterpret_cast<PeerContext*>(c)->session; }
  static RdpSession* OfTarget(rdpContext* c) { return reinterpret_cast<TargetContext*>(c)->session; }

  // The operator's leg.
  static BOOL PeerPostConnect(freerdp_peer* p);
  static BOOL PeerActivate(freerdp_peer* p);
  static BOOL PeerSynchronize(rdpInput* in, UINT32 flags);
  static BOOL PeerKey(rdpInput* in, UINT16 flags, UINT16 code);
  static BOOL PeerUnicode(rdpInput* in, UINT16 flags, UINT16 code);
  static BOOL PeerMouse(rdpInput* in, UINT16 flags, UINT16 x, UINT16 y);
  static BOOL PeerExtendedMouse(rdpInput* in, UINT16 flags, UINT16 x, UINT16 y);
  static BOOL PeerRefresh(rdpContext* c, BYTE count, const RECTANGLE_16* areas);
  static BOOL PeerSuppress(rdpContext* c, BYTE allow, const RECTANGLE_16* area);

  // The target's leg.
  static BOOL TargetPreConnect(freerdp* t);
  static BOOL TargetPostConnect(freerdp* t);
  static BOOL TargetAuthenticate(freerdp*, char**, char**, char**) { return FALSE; }
  // Every certificate the target (or a redirection) presents comes here, whatever FreeRDP's own
  // stores or the system's CAs would say (ExternalCertificateManagement): the role's pin alone
  // decides. 1: accept, -1: refuse.
  static int TargetVerify(freerdp* t, const BYTE* pem, size_t length, const char* host,
                          UINT16 port, DWORD flags);
  static BOOL TargetBeginPaint(rdpContext* c);
  static BOOL TargetEndPaint(rdpContext* c);
  static BOOL TargetBitmap(rdpContext* c, const BITMAP_UPDATE* b);
  static BOOL TargetDesktopResize(rdpContext* c);
  static BOOL TargetPointerPosition(rdpContext* c, const POINTER_POSITION_UPDATE* p);
  static BOOL TargetPointerSystem(rdpContext* c, const POINTER_SYSTEM_UPDATE* p);
  static BOOL TargetPointerColor(rdpContext* c, const POINTER_COLOR_UPDATE* p);
  static BOOL TargetPointerNew(rdpContext* c, const POINTER_NEW_UPDATE* p);
  static BOOL TargetPointerCached(rdpContext* c, const POINTER_CACHED_UPDATE* p);
  static BOOL TargetPointerLarge(rdpContext* c, const POINTER_LARGE_UPDATE* p);

  // The ticket to the controller, then the target's leg; false: refused (logged).
  bool Open();
  bool ConnectTarget();
  // Whether what the target draws goes to the operator now (activated, not suppressed).
  bool Relaying() const { return peer_->activated && !suppressed_ && target_ready_; }
  void AskFullRefresh();
  void Record(decltype(RecordingEvent::kind) kind);
  void RecordRect(uint32_t x, uint32_t y, uint32_t w, uint32_t h, bool keyframe);
  void RecordKeyframe();
  void RecordInput(uint32_t kind, uint32_t flags, uint32_t code, uint32_t x, uint32_t y);
  void End(const std::string& why);
  void ServeLoop();

  RdpGateway& gw_;
  freerdp_peer* peer_;
  freerdp* target_ = nullptr;
  bool target_connected_ = false;
  bool target_ready_ = false;  // gdi is up: its frame buffer holds the target's screen
  bool suppressed_ = false;
  std::string peer_address_;
  pb::OpenBrokerSessionRequest open_;
  pb::BrokerSession session_;
  bool recording_ = false;
  int64_t start_mono_ = 0;
  int64_t last_keyframe_ = 0;
  bool changed_since_keyframe_ = false;
  std::vector<RECTANGLE_16> dirty_;
  std::string ended_;
  HANDLE wake_ = nullptr;
  std::mutex mu_;
  std::string terminate_;  // guarded by mu_: set by the controller's word
  bool logon_over_ = false;  // guarded by mu_: the logon arrived (or the connection ended)
  std::condition_variable logon_cv_;
  // The target leg's gdi callbacks, called after ours.
  pBitmapUpdate gdi_bitmap_ = nullptr;
  pBeginPaint gdi_begin_ = nullptr;
  pEndPaint gdi_end_ = nullptr;
  pDesktopResize gdi_resize_ = nullptr;
};

RdpSession::~RdpSession() {
  if (target_) {
    if (target_connected_) freerdp_disconnect(target_);
    if (target_ready_) gdi_free(target_);
    freerdp_context_free(target_);
    freerdp_free(target_);
  }
  if (wake_) CloseHandle(wake_);
}

bool RdpSession::Open() {
  {
    std::lock_guard lock(mu_);
    logon_over_ = true;
  }
  logon_cv_.notify_all();
  rdpSettings* ps = peer_->settings;
  const bool shaped = TicketShaped(ps->Username, "wt-", 16) && TicketShaped(ps->Password, "", 24);
  const std::string user = shaped ? ps->Username : "";
  std::string secret = shaped ? ps->Password : "";
  if (ps->Password) OPENSSL_cleanse(ps->Password, strlen(ps->Password));
  if (!shaped) {
    LogLine(LOG_WARNING, StrCat("refused ", peer_address_, ": no ticket in its logon (the RDP "
                                "client must send the ticket from wardenctl rdp ticket as user "
                                "name and password)"));
    return false;
  }
  if (gw_.uplink().stopping()) {
    LogLine(LOG_WARNING, StrCat("refused ticket ", user, " from ", peer_address_,
                                ": the gateway is stopping"));
    return false;
  }
  open_.set_ticket(user);
  open_.set_ticket_secret(secret);
  OPENSSL_cleanse(secret.data(), secret.size());
  open_.set_client_address(peer_address_);
  absl::Status st = gw_.uplink().OpenSession(open_, &session_);
  OPENSSL_cleanse(open_.mutable_ticket_secret()->data(), open_.ticket_secret().size());
  open_.clear_ticket_secret();
  if (!st.ok()) {
    LogLine(LOG_WARNING, StrCat("refused ticket ", user, " from ", peer_address_, ": ", st.message()));
    return false;
  }
  // Registered before the target's leg: a terminate or revocation meanwhile is kept.
  gw_.uplink().Register(session_.session_id(),
                        {[this](const SessionControl& c) {
                           if (c.terminated_by.empty()) return;
                           std::lock_guard lock(mu_);
                           terminate_ = StrCat("ended by ", c.terminated_by,
                                               c.reason.empty() ? "" : ": ", c.reason);
                           SetEvent(wake_);
                         },
                         [] {}});
  const bool connected = ConnectTarget();
  OPENSSL_cleanse(session_.mutable_password()->data(), session_.password().size());
  session_.clear_password();
  if (!connected) {
    gw_.uplink().Unregister(session_.session_id());
    gw_.uplink().CloseSession(session_.session_id());
    return false;
  }
  start_mono_ = gw_.uplink().BeginRecording(session_, peer_address_);
  recording_ = true;
  RecordKeyframe();
  return true;
}

bool RdpSession::ConnectTarget() {
  target_ = freerdp_new();
  if (!target_) return false;
  target_->ContextSize = sizeof(TargetContext);
  target_->PreConnect = TargetPreConnect;
  target_->PostConnect = TargetPostConnect;
  target_->Authenticate = TargetAuthenticate;
  target_->VerifyX509Certificate = TargetVerify;
  if (!freerdp_context_new(target_)) return false;
  reinterpret_cast<TargetContext*>(target_->context)->session = this;
  rdpSettings* ts = target_->settings;
  rdpSettings* ps = peer_->settings;
  std::string login = session_.login(), domain;
  if (const size_t slash = login.find('\\'); slash != std::string::npos) {
    domain = login.substr(0, slash);
    login = login.substr(slash + 1);
  }
  const bool nla = session_.rdp_security() != "tls";
  // FreeRDP keeps its own stores (known hosts) under here; they are never consulted
  // (ExternalCertificateManagement: TargetVerify sees every certificate).
  const std::string config_dir = gw_.config().state.StatePath("freerdp");
  bool ok = freerdp_settings_set_string(ts, FreeRDP_ServerHostname, session_.host().c_str()) &&
            freerdp_settings_set_uint32(ts, FreeRDP_ServerPort, session_.port()) &&
            freerdp_settings_set_string(ts, FreeRDP_Username, login.c_str()) &&
            freerdp_settings_set_string(ts, FreeRDP_Domain, domain.empty() ? nullptr : domain.c_str()) &&
            freerdp_settings_set_string(ts, FreeRDP_Password, session_.password().c_str()) &&
            freerdp_settings_set_string(ts, FreeRDP_ConfigPath, config_dir.c_str()) &&
            freerdp_settings_set_bool(ts, FreeRDP_NlaSecurity, nla) &&
            freerdp_settings_set_bool(ts, FreeRDP_TlsSecurity, !nla) &&
            freerdp_settings_set_bool(ts, FreeRDP_RdpSecurity, FALSE) &&
            freerdp_settings_set_bool(ts, FreeRDP_NegotiateSecurityLayer, TRUE) &&
            freerdp_settings_set_bool(ts, FreeRDP_IgnoreCertificate, FALSE) &&
            freerdp_settings_set_bool(ts, FreeRDP_AutoAcceptCertificate, FALSE) &&
            freerdp_settings_set_bool(ts, FreeRDP_ExternalCertificateManagement, TRUE) &&
            freerdp_settings_set_uint32(ts, FreeRDP_ColorDepth, ps->ColorDepth) &&
            freerdp_settings_set_uint32(ts, FreeRDP_DesktopWidth, ps->DesktopWidth) &&
            freerdp_settings_set_uint32(ts, FreeRDP_DesktopHeight, ps->DesktopHeight) &&
            freerdp_settings_set_uint32(ts, FreeRDP_KeyboardLayout, ps->KeyboardLayout) &&
            // What every RDP client decodes, so that the target's updates can go to the
            // operator as they are: bitmaps (planar, interleaved), no GFX pipeline, no RemoteFX or
            // NSCodec surfaces, no drawing orders or caches.
            freerdp_settings_set_bool(ts, FreeRDP_SupportGraphicsPipeline, FALSE) &&
            freerdp_settings_set_bool(ts, FreeRDP_RemoteFxCodec, FALSE) &&
            freerdp_settings_set_bool(ts, FreeRDP_NSCodec, FALSE) &&
            freerdp_settings_set_bool(ts, FreeRDP_SurfaceCommandsEnabled, FALSE) &&
            freerdp_settings_set_bool(ts, FreeRDP_FrameMarkerCommandEnabled, FALSE) &&
            freerdp_settings_set_bool(ts, FreeRDP_SurfaceFrameMarkerEnabled, FALSE) &&
            freerdp_settings_set_bool(ts, FreeRDP_BitmapCacheEnabled, FALSE) &&
            freerdp_settings_set_bool(ts, FreeRDP_AllowCacheWaitingList, FALSE) &&
            freerdp_settings_set_uint32(ts, FreeRDP_OffscreenSupportLevel, 0) &&
            freerdp_settings_set_uint32(ts, FreeRDP_GlyphSupportLevel, GLYPH_SUPPORT_NONE) &&
            freerdp_settings_set_bool(ts, FreeRDP_FastPathOutput, TRUE) &&
            freerdp_settings_set_bool(ts, FreeRDP_FastPathInput, TRUE) &&
            freerdp_settings_set_bool(ts, FreeRDP_DesktopResize, TRUE) &&
            freerdp_settings_set_uint32(ts, FreeRDP_PointerCacheSize, ps->PointerCacheSize) &&
            // The target's updates are never larger than the operator's client takes in one.
            freerdp_settings_set_uint32(ts, FreeRDP_MultifragMaxRequestSize,
                                        ps->MultifragMaxRequestSize) &&
            freerdp_settings_set_uint32(ts, FreeRDP_TcpConnectTimeout, 10000);
  for (int i = 0; ok && i < 32; i++) ts->OrderSupport[i] = FALSE;
  if (ok) {
    mkdir(config_dir.c_str(), 0700);
    ok = freerdp_connect(target_);
    target_connected_ = ok;
  }
  if (ts->Password) OPENSSL_cleanse(ts->Password, strlen(ts->Password));
  freerdp_settings_set_string(ts, FreeRDP_Password, nullptr);
  if (!ok) {
    const UINT32 code = freerdp_get_last_error(target_->context);
    LogLine(LOG_ERR, StrCat("session ", session_.session_id(), " of ", session_.user(), " to ",
                            session_.target(), ": the connection to ", session_.host(), ":",
                            session_.port(), " failed: ", freerdp_get_last_error_string(code)));
    return false;
  }
  if (ts->DesktopWidth == 0 || ts->DesktopHeight == 0 || ts->DesktopWidth > kMaxDesktopSide ||
      ts->DesktopHeight > kMaxDesktopSide) {
    LogLine(LOG_ERR, StrCat("session ", session_.session_id(), ": the target's desktop is ",
                            ts->DesktopWidth, "x", ts->DesktopHeight, " (at most ",
                            kMaxDesktopSide, " a side)"));
    return false;
  }
  // The operator sees the target's desktop size: the client resizes before its first frame.
  if (ps->DesktopWidth != ts->DesktopWidth || ps->DesktopHeight != ts->DesktopHeight) {
    ps->DesktopWidth = ts->DesktopWidth;
    ps->DesktopHeight = ts->DesktopHeight;
    peer_->update->DesktopResize(peer_->context);
  }
  return true;
}

BOOL RdpSession::TargetPreConnect(freerdp*) { return TRUE; }

BOOL RdpSession::TargetPostConnect(freerdp* t) {
  RdpSession* s = OfTarget(t->context);
  if (!gdi_init(t, PIXEL_FORMAT_BGRX32)) return FALSE;
  s->target_ready_ = true;
  rdpUpdate* u = t->context->update;
  s->gdi_bitmap_ = u->BitmapUpdate;
  s->gdi_begin_ = u->BeginPaint;
  s->gdi_end_ = u->EndPaint;
  s->gdi_resize_ = u->DesktopResize;
  u->BitmapUpdate = TargetBitmap;
  u->BeginPaint = TargetBeginPaint;
  u->EndPaint = TargetEndPaint;
  u->DesktopResize = TargetDesktopResize;
  u->pointer->PointerPosition = TargetPointerPosition;
  u->pointer->PointerSystem = TargetPointerSystem;
  u->pointer->PointerColor = TargetPointerColor;
  u->pointer->PointerNew = TargetPointerNew;
  u->pointer->PointerCached = TargetPointerCached;
  u->pointer->PointerLarge = TargetPointerLarge;
  return TRUE;
}

int RdpSession::TargetVerify(freerdp* t, const BYTE* pem, size_t length, const char* host,
                            UINT16 port, DWORD flags) {
  RdpSession* s = OfTarget(t->context);
  std::string shown = "(unreadable)";
  BIO* bio = length <= (1 << 20) ? BIO_new_mem_buf(pem, static_cast<int>(length)) : nullptr;
  X509* cert = bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
  unsigned char* der = nullptr;
  const int n = cert ? i2d_X509(cert, &der) : 0;
  if (n > 0) shown = HexEncode(Sha256(ByteSpan(der, static_cast<size_t>(n))));
  OPENSSL_free(der);
  X509_free(cert);
  BIO_free(bio);
  // A redirection or an RD Gateway in between is refused: the role names one target.
  if (!(flags & (VERIFY_CERT_FLAG_REDIRECT | VERIFY_CERT_FLAG_GATEWAY)) &&
      shown == s->session_.rdp_certificate())
    return 1;
  LogLine(LOG_ERR, StrCat("alert: session ", s->session_.session_id(), ": ", host ? host : "?", ":",
                          port, flags & VERIFY_CERT_FLAG_REDIRECT ? " (a redirection)" : "",
                          " presented certificate sha256:", shown, "; the role pins sha256:",
                          s->session_.rdp_certificate(), ": no credential was sent"));
  return -1;
}

BOOL RdpSession::TargetBeginPaint(rdpContext* c) {
  RdpSession* s = OfTarget(c);
  if (s->Relaying()) s->peer_->update->BeginPaint(s->peer_->context);
  return s->gdi_begin_ ? s->gdi_begin_(c) : TRUE;
}

BOOL RdpSession::TargetBitmap(rdpContext* c, const BITMAP_UPDATE* b) {
  RdpSession* s = OfTarget(c);
  // As received: the operator's client decodes what the target encoded.
  if (s->Relaying() && !s->peer_->update->BitmapUpdate(s->peer_->context, b)) {
    s->End("the operator's connection failed");
    return TRUE;
  }
  for (UINT32 i = 0; i < b->number; i++) {
    const BITMAP_DATA& d = b->rectangles[i];
    s->dirty_.push_back({static_cast<UINT16>(d.destLeft), static_cast<UINT16>(d.destTop),
                         static_cast<UINT16>(d.destRight), static_cast<UINT16>(d.destBottom)});
  }
  return s->gdi_bitmap_(c, b);
}

BOOL RdpSession::TargetEndPaint(rdpContext* c) {
  RdpSession* s = OfTarget(c);
  if (s->gdi_end_ && !s->gdi_end_(c)) return FALSE;
  if (s->Relaying()) s->peer_->update->EndPaint(s->peer_->context);
  // What changed, as the gateway decoded it, into the recording.
  rdpGdi* gdi = c->gdi;
  for (const RECTANGLE_16& r : s->dirty_) {
    const uint32_t x = std::min<uint32_t>(r.left, gdi->width);
    const uint32_t y = std::min<uint32_t>(r.top, gdi->height);
    const uint32_t right = std::min<uint32_t>(static_cast<uint32_t>(r.right) + 1, gdi->width);
    const uint32_t bottom = std::min<uint32_t>(static_cast<uint32_t>(r.bottom) + 1, gdi->height);
    if (right > x && bottom > y) s->RecordRect(x, y, right - x, bottom - y, false);
  }
  if (!s->dirty_.empty()) s->changed_since_keyframe_ = true;
  s->dirty_.clear();
  // What gdi marked invalid is done with (a client's EndPaint would have drawn it): its list
  // would grow with every rectangle of the session otherwise.
  gdi->primary->hdc->hwnd->invalid->null = TRUE;
  gdi->primary->hdc->hwnd->ninvalid = 0;
  return TRUE;
}

BOOL RdpSession::TargetDesktopResize(rdpContext* c) {
  RdpSession* s = OfTarget(c);
  const UINT32 w = c->settings->DesktopWidth, h = c->settings->DesktopHeight;
  if (w == 0 || h == 0 || w > kMaxDesktopSide || h > kMaxDesktopSide) {
    s->End(StrCat("the target resized its desktop to ", w, "x", h, " (at most ", kMaxDesktopSide,
                  " a side)"));
    return TRUE;
  }
  if (s->gdi_resize_ ? !s->gdi_resize_(c) : !gdi_resize(c->gdi, w, h)) {
    s->End("the gateway could not follow the target's desktop resize");
    return TRUE;
  }
  rdpSettings* ps = s->peer_->settings;
  ps->DesktopWidth = c->settings->DesktopWidth;
  ps->DesktopHeight = c->settings->DesktopHeight;
  if (s->peer_->activated) s->peer_->update->DesktopResize(s->peer_->context);
  s->RecordKeyframe();
  return TRUE;
}

// The target's pointer goes to the operator unchanged (the caches are the same size).
BOOL RdpSession::TargetPointerPosition(rdpContext* c, const POINTER_POSITION_UPDATE* p) {
  RdpSession* s = OfTarget(c);
  return !s->Relaying() || s->peer_->update->pointer->PointerPosition(s->peer_->context, p);
}
BOOL RdpSession::TargetPointerSystem(rdpContext* c, const POINTER_SYSTEM_UPDATE* p) {
  RdpSession* s = OfTarget(c);
  return !s->Relaying() || s->peer_->update->pointer->PointerSystem(s->peer_->context, p);
}
BOOL RdpSession::TargetPointerColor(rdpContext* c, const POINTER_COLOR_UPDATE* p) {
  RdpSession* s = OfTarget(c);
  return !s->Relaying() || s->peer_->update->pointer->PointerColor(s->peer_->context, p);
}
BOOL RdpSession::TargetPointerNew(rdpContext* c, const POINTER_NEW_UPDATE* p) {
  RdpSession* s = OfTarget(c);
  return !s->Relaying() || s->peer_->update->pointer->PointerNew(s->peer_->context, p);
}
BOOL RdpSession::TargetPointerCached(rdpContext* c, const POINTER_CACHED_UPDATE* p) {
  RdpSession* s = OfTarget(c);
  return !s->Relaying() || s->peer_->update->pointer->PointerCached(s->peer_->context, p);
}
BOOL RdpSession::TargetPointerLarge(rdpContext* c, const POINTER_LARGE_UPDATE* p) {
  RdpSession* s = OfTarget(c);
  return !s->Relaying() || s->peer_->update->pointer->PointerLarge(s->peer_->context, p);
}

void RdpSession::AskFullRefresh() {
  if (!target_ready_) return;
  const RECTANGLE_16 all{0, 0, static_cast<UINT16>(target_->settings->DesktopWidth - 1),
                         static_cast<UINT16>(target_->settings->DesktopHeight - 1)};
  target_->context->update->RefreshRect(target_->context, 1, &all);
}

BOOL RdpSession::PeerPostConnect(freerdp_peer* p) {
  RdpSession* s = Of(p->context);
  return s->Open() ? TRUE : FALSE;
}

BOOL RdpSession::PeerActivate(freerdp_peer* p) {
  RdpSession* s = Of(p->context);
  s->suppressed_ = false;
  // What the client missed before (and across a reactivation) is drawn again.
  s->AskFullRefresh();
  return TRUE;
}

BOOL RdpSession::PeerSynchronize(rdpInput* in, UINT32 flags) {
  RdpSession* s = Of(in->context);
  return !s->target_ready_ || freerdp_input_send_synchronize_event(s->target_->input, flags);
}

BOOL RdpSession::PeerKey(rdpInput* in, UINT16 flags, UINT16 code) {
  RdpSession* s = Of(in->context);
  if (!s->target_ready_) return TRUE;
  s->RecordInput(0, flags, code, 0, 0);
  return freerdp_input_send_keyboard_event(s->target_->input, flags, code);
}

BOOL RdpSession::PeerUnicode(rdpInput* in, UINT16 flags, UINT16 code) {
  RdpSession* s = Of(in->context);
  if (!s->target_ready_) return TRUE;
  s->RecordInput(1, flags, code, 0, 0);
  return freerdp_input_send_unicode_keyboard_event(s->target_->input, flags, code);
}

BOOL RdpSession::PeerMouse(rdpInput* in, UINT16 flags, UINT16 x, UINT16 y) {
  RdpSession* s = Of(in->context);
  if (!s->target_ready_) return TRUE;
  if (flags & (PTR_FLAGS_BUTTON1 | PTR_FLAGS_BUTTON2 | PTR_FLAGS_BUTTON3 | PTR_FLAGS_WHEEL |
               PTR_FLAGS_HWHEEL))
    s->RecordInput(2, flags, 0, x, y);
  return freerdp_input_send_mouse_event(s->target_->input, flags, x, y);
}

BOOL RdpSession::PeerExtendedMouse(rdpInput* in, UINT16 flags, UINT16 x, UINT16 y) {
  RdpSession* s = Of(in->context);
  if (!s->target_ready_) return TRUE;
  s->RecordInput(2, flags, 0, x, y);
  return freerdp_input_send_extended_mouse_event(s->target_->input, flags, x, y);
}

BOOL RdpSession::PeerRefresh(rdpContext* c, BYTE count, const RECTANGLE_16* areas) {
  RdpSession* s = Of(c);
  return !s->target_ready_ || s->target_->context->update->RefreshRect(s->target_->context, count, areas);
}

BOOL RdpSession::PeerSuppress(rdpContext* c, BYTE allow, const RECTANGLE_16* area) {
  RdpSession* s = Of(c);
  s->suppressed_ = !allow;
  return !s->target_ready_ ||
         s->target_->context->update->SuppressOutput(s->target_->context, allow, area);
}

void RdpSession::Record(decltype(RecordingEvent::kind) kind) {
  if (!recording_) return;
  const int64_t now = MonoNs();
  RecordingEvent ev;
  ev.offset_ns = now - start_mono_;
  ev.kind = std::move(kind);
  gw_.uplink().spool().Add(session_.session_id(), now, {}, std::move(ev));
}

void RdpSession::RecordRect(uint32_t x, uint32_t y, uint32_t w, uint32_t h, bool keyframe) {
  if (!recording_ || !target_ready_) return;
  rdpGdi* gdi = target_->context->gdi;
  std::string raw(static_cast<size_t>(w) * h * 4, '\0');
  for (uint32_t row = 0; row < h; row++) {
    memcpy(raw.data() + static_cast<size_t>(row) * w * 4,
           gdi->primary_buffer + static_cast<size_t>(y + row) * gdi->stride + x * 4,
           static_cast<size_t>(w) * 4);
  }
  ScreenRect r{x, y, w, h, static_cast<uint32_t>(gdi->width), static_cast<uint32_t>(gdi->height),
               keyframe, std::string(ZSTD_compressBound(raw.size()), '\0')};
  const size_t n = ZSTD_compress(r.pixels_zstd.data(), r.pixels_zstd.size(), raw.data(), raw.size(), 1);
  if (ZSTD_isError(n)) {
    End(StrCat("recording the screen failed: ", ZSTD_getErrorName(n)));
    return;
  }
  r.pixels_zstd.resize(n);
  Record(std::move(r));
}

void RdpSession::RecordKeyframe() {
  if (!recording_ || !target_ready_) return;
  rdpGdi* gdi = target_->context->gdi;
  const uint32_t w = static_cast<uint32_t>(gdi->width), h = static_cast<uint32_t>(gdi->height);
  for (uint32_t y = 0; y < h; y += kBandRows) RecordRect(0, y, w, std::min(kBandRows, h - y), true);
  last_keyframe_ = MonoNs();
  changed_since_keyframe_ = false;
}

void RdpSession::RecordInput(uint32_t kind, uint32_t flags, uint32_t code, uint32_t x, uint32_t y) {
  // Which key only where the role records input in full: keystrokes are passwords as often as
  // not.
  if (session_.recording_input() == "off") return;
  if (kind != 2 && session_.recording_input() != "full") code = 0;
  Record(RdpInputEvent{kind, flags, code, x, y});
}

void RdpSession::End(const std::string& why) {
  if (ended_.empty()) ended_ = why;
}

void RdpSession::Serve() {
  peer_address_ = PeerAddress(peer_->sockfd);
  wake_ = CreateEventA(nullptr, TRUE, FALSE, nullptr);
  peer_->ContextSize = sizeof(PeerContext);
  if (!wake_ || !freerdp_peer_context_new(peer_)) {
    LogLine(LOG_ERR, StrCat("refused ", peer_address_, ": out of memory"));
    close(peer_->sockfd);
    return;
  }
  reinterpret_cast<PeerContext*>(peer_->context)->session = this;
  // A client that stalls before its logon (in the middle of the TLS handshake, where FreeRDP
  // waits without end) loses its connection at the grace time: its socket is shut down under it.
  std::thread watchdog([this] {
    std::unique_lock lock(mu_);
    const int64_t grace = gw_.config().logon_grace_seconds;
    if (!logon_cv_.wait_for(lock, std::chrono::seconds(grace), [this] { return logon_over_; })) {
      LogLine(LOG_WARNING, StrCat("dropped ", peer_address_, ": no logon within ", grace, " s"));
      shutdown(peer_->sockfd, SHUT_RDWR);
    }
  });
  ServeLoop();
  {
    std::lock_guard lock(mu_);
    logon_over_ = true;
  }
  logon_cv_.notify_all();
  watchdog.join();  // before the socket closes: the watchdog never touches a descriptor reused
  peer_->Disconnect(peer_);
  freerdp_peer_context_free(peer_);
  if (recording_) gw_.uplink().CloseSession(session_.session_id());
}

void RdpSession::ServeLoop() {
  rdpSettings* ps = peer_->settings;
  const std::string cert = gw_.config().state.StatePath("host.crt");
  const std::string key = gw_.config().state.StatePath("host.key");
  // The operator's leg: TLS with the gateway's certificate from the cluster CA; the ticket is
  // the logon's user name and password (never NLA: its CredSSP would need the ticket's hash
  // before the ticket is known to be good).
  if (!freerdp_settings_set_string(ps, FreeRDP_CertificateFile, cert.c_str()) ||
      !freerdp_settings_set_string(ps, FreeRDP_PrivateKeyFile, key.c_str()) ||
      !freerdp_settings_set_bool(ps, FreeRDP_RdpSecurity, FALSE) ||
      !freerdp_settings_set_bool(ps, FreeRDP_TlsSecurity, TRUE) ||
      !freerdp_settings_set_bool(ps, FreeRDP_NlaSecurity, FALSE) ||
      !freerdp_settings_set_uint32(ps, FreeRDP_ColorDepth, 32) ||
      !freerdp_settings_set_bool(ps, FreeRDP_SupportGraphicsPipeline, FALSE) ||
      !freerdp_settings_set_bool(ps, FreeRDP_RemoteFxCodec, FALSE) ||
      !freerdp_settings_set_bool(ps, FreeRDP_NSCodec, FALSE) ||
      !freerdp_settings_set_bool(ps, FreeRDP_RefreshRect, TRUE) ||
      !freerdp_settings_set_bool(ps, FreeRDP_SuppressOutput, TRUE) ||
      !freerdp_settings_set_bool(ps, FreeRDP_DesktopResize, TRUE)) {
    LogLine(LOG_ERR, StrCat("refused ", peer_address_, ": the RDP settings could not be made"));
    return;
  }
  peer_->PostConnect = PeerPostConnect;
  peer_->Activate = PeerActivate;
  peer_->input->SynchronizeEvent = PeerSynchronize;
  peer_->input->KeyboardEvent = PeerKey;
  peer_->input->UnicodeKeyboardEvent = PeerUnicode;
  peer_->input->MouseEvent = PeerMouse;
  peer_->input->ExtendedMouseEvent = PeerExtendedMouse;
  peer_->update->RefreshRect = PeerRefresh;
  peer_->update->SuppressOutput = PeerSuppress;
  if (!peer_->Initialize(peer_)) {
    LogLine(LOG_ERR, StrCat("refused ", peer_address_, ": TLS with ", cert, " and ", key,
                            " could not be set up"));
    return;
  }
  while (ended_.empty()) {
    // The controller's word, the grant's end and the gateway's stop come before any input.
    {
      std::lock_guard lock(mu_);
      ResetEvent(wake_);
      if (!terminate_.empty()) End(terminate_);
    }
    if (recording_ && UnixNs() / 1'000'000'000 >= session_.expires_unix())
      End(StrCat("grant ", session_.grant_id(), " ended"));
    if (gw_.uplink().stopping()) End("the gateway is stopping");
    if (!ended_.empty()) break;
    HANDLE handles[MAXIMUM_WAIT_OBJECTS];
    DWORD n = peer_->GetEventHandles(peer_, handles, 32);
    if (n == 0) break;
    if (target_connected_) {
      const DWORD m = freerdp_get_event_handles(target_->context, handles + n, MAXIMUM_WAIT_OBJECTS - n - 1);
      if (m == 0) break;
      n += m;
    }
    handles[n++] = wake_;
    WaitForMultipleObjects(n, handles, FALSE, 200);
    if (!peer_->CheckFileDescriptor(peer_)) {
      End("the operator disconnected");
      break;
    }
    if (target_connected_ && !freerdp_check_event_handles(target_->context)) {
      End(StrCat("the target ended the session (",
                 freerdp_get_last_error_string(freerdp_get_last_error(target_->context)), ")"));
      break;
    }
    if (target_connected_ && freerdp_shall_disconnect(target_)) {
      End("the target ended the session");
      break;
    }
    if (recording_ && changed_since_keyframe_ && MonoNs() - last_keyframe_ >= kKeyframeNs)
      RecordKeyframe();
  }
  if (ended_.empty()) ended_ = "the connection failed";
  if (!recording_) return;
  LogLine(LOG_INFO, StrCat("session ", session_.session_id(), " ended: ", ended_));
  gw_.uplink().Unregister(session_.session_id());
  gw_.uplink().spool().Close(session_.session_id(), MonoNs(), UnixNs(), {});
  // The target's leg closes before the credential is checked in and rotated (by Serve).
  freerdp_disconnect(target_);
  target_connected_ = false;
}

}  // namespace

RdpGateway::RdpGateway(GatewayConfig config, HostEnrollment enrollment)
    : config_(std::move(config)), uplink_(config_.state, std::move(enrollment), "warden-rdpgw") {}

absl::Status RdpGateway::Run(const std::atomic<bool>& stop, Heartbeat* beat) {
  freerdp_listener* listener = freerdp_listener_new();
  if (!listener) return absl::ResourceExhaustedError("freerdp_listener_new failed");
  if (!listener->Open(listener, config_.listen_address.c_str(),
                      static_cast<UINT16>(config_.listen_port))) {
    freerdp_listener_free(listener);
    return absl::FailedPreconditionError(StrCat("cannot listen on ", config_.listen_address, ":",
                                                config_.listen_port));
  }
  listener->info = this;
  listener->PeerAccepted = [](freerdp_listener* l, freerdp_peer* p) -> BOOL {
    auto* gw = static_cast<RdpGateway*>(l->info);
    // Refused: FALSE, and FreeRDP closes the socket and frees the peer.
    if (gw->connections_ >= gw->config_.max_connections || gw->uplink_.stopping()) {
      LogLine(LOG_WARNING, StrCat("refused a connection: ", gw->uplink_.stopping()
                                                                ? std::string("the gateway is stopping")
                                                                : StrCat(gw->config_.max_connections,
                                                                         " are open (max_connections)")));
      return FALSE;
    }
    gw->connections_++;
    try {
      std::thread([gw, p] {
        {
          RdpSession s(*gw, p);
          s.Serve();
        }
        freerdp_peer_free(p);
        gw->connections_--;
      }).detach();
    } catch (const std::system_error& e) {
      gw->connections_--;
      LogLine(LOG_ERR, StrCat("refused a connection: no thread for it (", e.what(), ")"));
      return FALSE;
    }
    return TRUE;
  };
  // What operators' RDP clients are shown, for them to pin (the cluster CA signed it).
  LogLine(LOG_INFO, StrCat("listening on ", config_.listen_address, ":", config_.listen_port,
                           " as ", uplink_.enrollment().host_id, " (tier ",
                           uplink_.enrollment().tier, "); TLS certificate sha256:",
                           CertificateSha256(config_.state.StatePath("host.crt"))));
  uplink_.Start();
  while (!stop) {
    if (beat) beat->Beat();
    HANDLE handles[32];
    const DWORD n = listener->GetEventHandles(listener, handles, 32);
    if (n == 0) break;
    if (WaitForMultipleObjects(n, handles, FALSE, 200) == WAIT_FAILED) break;
    if (!listener->CheckFileDescriptor(listener)) break;
  }
  listener->Close(listener);
  freerdp_listener_free(listener);
  uplink_.Shutdown(connections_);
  return absl::OkStatus();
}

}  // namespace warden
