// warden-rdpgw: enroll, then serve (docs/rdp-gateway.md, man page warden-rdpgw(8)).
#include <winpr/ssl.h>

#include "gateway/gateway_main.h"
#include "gateway/rdpgw.h"

int main(int argc, char** argv) {
  winpr_InitializeSSL(WINPR_SSL_INIT_DEFAULT);
  return warden::GatewayMain(
      argc, argv, "warden-rdpgw", "Warden's RDP gateway for Windows targets",
      warden::kRdpGatewayDefaults,
      [](const warden::GatewayConfig& c, const warden::HostEnrollment& e,
         const std::atomic<bool>& stop, warden::Heartbeat& beat) {
        // Never destroyed: a connection thread still closing when the process exits (_exit)
        // uses it to the end.
        auto* gw = new warden::RdpGateway(c, e);
        return gw->Run(stop, &beat);
      });
}
