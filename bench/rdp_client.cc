// A headless RDP client for bench/rdpgw_bench.sh (FreeRDP 2). It asks for what warden-rdpgw
// relays (bitmap updates, no GFX, RemoteFX or NSCodec) whether it connects directly or through
// the gateway, so both paths carry the same bytes.
//
//   rdp_client latency N DIRECT_PORT USER PASSWORD GW_PORT CREDENTIALS_FILE
//     Two connections to one target, one direct and one through the gateway (the file holds the
//     ticket's "user password"). The target runs xeyes, which redraws when the pointer moves.
//     N rounds, alternating: the pointer moves on one connection and the time until a screen
//     update arrives on the same one is its round trip (input -> target -> screen). Every
//     screen update of the target reaches both connections: the time by which the gateway's copy
//     of the same update trails the direct one is the screen path's added latency.
//     Prints: rtt_direct_p50_ms rtt_direct_p99_ms rtt_gw_p50_ms rtt_gw_p99_ms lag_p50_ms lag_p99_ms
//   rdp_client hold SECONDS MOVE_MS GW_PORT CREDENTIALS_FILE
//     One connection through the gateway per line of the file, held SECONDS, each moving the
//     pointer every MOVE_MS (0: idle). Prints the number connected, then "ok" at the end.
#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/input.h>
#include <winpr/synch.h>
#include <winpr/wlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Ctx {
  rdpContext base;
  int64_t last_update_us;
  int updates;
  pBitmapUpdate gdi_bitmap;
};

// When an update arrives; then decoded, as any client would.
BOOL OnBitmap(rdpContext* c, const BITMAP_UPDATE* b) {
  auto* x = reinterpret_cast<Ctx*>(c);
  x->last_update_us = NowUs();
  x->updates++;
  return x->gdi_bitmap(c, b);
}
BOOL Resized(rdpContext* c) {  // the gateway sizes the client to the target
  return gdi_resize(c->gdi, c->settings->DesktopWidth, c->settings->DesktopHeight);
}
// The pointer is not drawn here.
BOOL PointerPosition(rdpContext*, const POINTER_POSITION_UPDATE*) { return TRUE; }
BOOL PointerSystem(rdpContext*, const POINTER_SYSTEM_UPDATE*) { return TRUE; }
BOOL PointerColor(rdpContext*, const POINTER_COLOR_UPDATE*) { return TRUE; }
BOOL PointerNew(rdpContext*, const POINTER_NEW_UPDATE*) { return TRUE; }
BOOL PointerCached(rdpContext*, const POINTER_CACHED_UPDATE*) { return TRUE; }
BOOL PointerLarge(rdpContext*, const POINTER_LARGE_UPDATE*) { return TRUE; }
BOOL Paint(rdpContext*) { return TRUE; }
BOOL PostConnect(freerdp* i) {
  if (!gdi_init(i, PIXEL_FORMAT_BGRX32)) return FALSE;
  i->update->BeginPaint = Paint;
  i->update->EndPaint = Paint;
  reinterpret_cast<Ctx*>(i->context)->gdi_bitmap = i->update->BitmapUpdate;
  i->update->BitmapUpdate = OnBitmap;
  i->update->DesktopResize = Resized;
  i->update->pointer->PointerPosition = PointerPosition;
  i->update->pointer->PointerSystem = PointerSystem;
  i->update->pointer->PointerColor = PointerColor;
  i->update->pointer->PointerNew = PointerNew;
  i->update->pointer->PointerCached = PointerCached;
  i->update->pointer->PointerLarge = PointerLarge;
  return TRUE;
}
BOOL PreConnect(freerdp*) { return TRUE; }
DWORD Accept(freerdp*, const char*, UINT16, const char*, const char*, const char*, const char*, DWORD) {
  return 2;
}

freerdp* Connect(int port, const std::string& user, const std::string& password) {
  freerdp* i = freerdp_new();
  i->ContextSize = sizeof(Ctx);
  i->PreConnect = PreConnect;
  i->PostConnect = PostConnect;
  i->VerifyCertificateEx = Accept;
  freerdp_context_new(i);
  rdpSettings* s = i->settings;
  freerdp_settings_set_string(s, FreeRDP_ServerHostname, "127.0.0.1");
  freerdp_settings_set_uint32(s, FreeRDP_ServerPort, port);
  freerdp_settings_set_string(s, FreeRDP_Username, user.c_str());
  freerdp_settings_set_string(s, FreeRDP_Password, password.c_str());
  freerdp_settings_set_bool(s, FreeRDP_IgnoreCertificate, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_RdpSecurity, FALSE);
  freerdp_settings_set_uint32(s, FreeRDP_ColorDepth, 32);
  freerdp_settings_set_bool(s, FreeRDP_SupportGraphicsPipeline, FALSE);
  freerdp_settings_set_bool(s, FreeRDP_RemoteFxCodec, FALSE);
  freerdp_settings_set_bool(s, FreeRDP_NSCodec, FALSE);
  freerdp_settings_set_bool(s, FreeRDP_SurfaceCommandsEnabled, FALSE);
  freerdp_settings_set_bool(s, FreeRDP_BitmapCacheEnabled, FALSE);
  // As xfreerdp does: a whole screen's update in one (the shadow server sends no less).
  freerdp_settings_set_uint32(s, FreeRDP_MultifragMaxRequestSize, 16 << 20);
  for (int k = 0; k < 32; k++) s->OrderSupport[k] = FALSE;
  if (!freerdp_connect(i)) {
    fprintf(stderr, "rdp_client: connecting to port %d as %s failed: %s\n", port, user.c_str(),
            freerdp_get_last_error_string(freerdp_get_last_error(i->context)));
    exit(1);
  }
  return i;
}

// Runs every connection's events for up to `ms`, or until `done` says so.
template <typename Done>
void Pump(const std::vector<freerdp*>& all, int ms, Done done) {
  const int64_t end = NowUs() + int64_t{ms} * 1000;
  while (NowUs() < end && !done()) {
    HANDLE h[MAXIMUM_WAIT_OBJECTS];
    DWORD n = 0;
    for (freerdp* i : all) n += freerdp_get_event_handles(i->context, h + n, 64 - n);
    WaitForMultipleObjects(std::min<DWORD>(n, MAXIMUM_WAIT_OBJECTS), h, FALSE, 5);
    for (size_t k = 0; k < all.size(); k++) {
      if (!freerdp_check_event_handles(all[k]->context)) {
        fprintf(stderr, "rdp_client: connection %zu (port %u) ended: %s\n", k,
                all[k]->settings->ServerPort,
                freerdp_get_last_error_string(freerdp_get_last_error(all[k]->context)));
        exit(1);
      }
    }
  }
}

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

std::vector<std::pair<std::string, std::string>> Credentials(const char* path) {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream f(path);
  std::string u, p;
  while (f >> u >> p) out.emplace_back(u, p);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (!getenv("RDP_CLIENT_LOG")) WLog_SetLogLevel(WLog_GetRoot(), WLOG_OFF);  // stdout carries the results
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "latency" && argc == 8) {
    const int rounds = std::stoi(argv[2]);
    freerdp* direct = Connect(std::stoi(argv[3]), argv[4], argv[5]);
    auto cred = Credentials(argv[7]);
    freerdp* gw = Connect(std::stoi(argv[6]), cred.at(0).first, cred.at(0).second);
    std::vector<freerdp*> both{direct, gw};
    auto* dc = reinterpret_cast<Ctx*>(direct->context);
    auto* gc = reinterpret_cast<Ctx*>(gw->context);
    Pump(both, 2000, [] { return false; });  // the first screens
    std::vector<double> rtt_direct, rtt_gw, lag;
    for (int r = 0; r < rounds; r++) {
      freerdp* via = r % 2 ? gw : direct;
      Pump(both, 120, [] { return false; });  // quiet: nothing pending
      const int d0 = dc->updates, g0 = gc->updates;
      const int64_t t0 = NowUs();
      freerdp_input_send_mouse_event(via->input, PTR_FLAGS_MOVE, r % 2 ? 10 : 1000, 700);
      Pump(both, 2000, [&] { return dc->updates > d0 && gc->updates > g0; });
      if (dc->updates == d0 || gc->updates == g0) continue;  // no redraw: not counted
      // The first update of each after the move (updates of one frame come together).
      const int64_t td = dc->last_update_us, tg = gc->last_update_us;
      (via == gw ? rtt_gw : rtt_direct).push_back((via == gw ? tg - t0 : td - t0) / 1000.0);
      lag.push_back((tg - td) / 1000.0);
    }
    if (rtt_direct.empty() || rtt_gw.empty()) {
      fprintf(stderr, "rdp_client: no redraw seen (%d updates direct, %d through the gateway)\n",
              dc->updates, gc->updates);
      return 1;
    }
    printf("%.3f %.3f %.3f %.3f %.3f %.3f\n", Pct(rtt_direct, 0.5), Pct(rtt_direct, 0.99),
           Pct(rtt_gw, 0.5), Pct(rtt_gw, 0.99), Pct(lag, 0.5), Pct(lag, 0.99));
    return 0;
  }
  if (mode == "hold" && argc == 6) {
    const int seconds = std::stoi(argv[2]), move_ms = std::stoi(argv[3]);
    std::vector<freerdp*> all;
    for (const auto& [u, p] : Credentials(argv[5])) all.push_back(Connect(std::stoi(argv[4]), u, p));
    printf("%zu\n", all.size());
    fflush(stdout);
    const int64_t end = NowUs() + int64_t{seconds} * 1'000'000;
    int r = 0;
    while (NowUs() < end) {
      Pump(all, move_ms > 0 ? move_ms : 200, [] { return false; });
      if (move_ms > 0) {
        for (freerdp* i : all) freerdp_input_send_mouse_event(i->input, PTR_FLAGS_MOVE, r % 2 ? 900 : 20, 600);
        r++;
      }
    }
    printf("ok\n");
    return 0;
  }
  fprintf(stderr, "usage: rdp_client latency N DIRECT_PORT USER PASSWORD GW_PORT CREDENTIALS_FILE\n"
                  "       rdp_client hold SECONDS MOVE_MS GW_PORT CREDENTIALS_FILE\n");
  return 2;
}
