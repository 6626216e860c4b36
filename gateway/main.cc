// warden-sshgw: enroll, then serve (docs/ssh-gateway.md, man page warden-sshgw(8)).
#include <libssh/libssh.h>

#include "gateway/gateway_main.h"
#include "gateway/sshgw.h"

int main(int argc, char** argv) {
  ssh_init();
  return warden::GatewayMain(
      argc, argv, "warden-sshgw", "Warden's SSH broker for targets that cannot run wardend",
      warden::kSshGatewayDefaults,
      [](const warden::GatewayConfig& c, const warden::HostEnrollment& e,
         const std::atomic<bool>& stop, warden::Heartbeat& beat) {
        // Never destroyed: a connection thread still closing when the process exits (_exit)
        // uses it to the end.
        auto* gw = new warden::Gateway(c, e);
        return gw->Run(stop, &beat);
      });
}
