#!/usr/bin/env bash
# The Warden demo: a host enrolls with the controller; an operator gets a 30-minute grant after two
# peers approve; an ephemeral account appears on the host only for that grant; she logs in with an
# OpenSSH certificate and uses sudo; the grant is revoked and the account, its processes, home and
# sudo rule vanish at once. Everything runs on loopback in throwaway directories and private mount
# namespaces; nothing on the system is changed. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh default
export WARDEN_BIN=$PWD/build/default
source scripts/sandbox.sh
trap sandbox_cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }

step "1. Start a controller: keys for every tier live on a SoftHSM2 token"
controller_init
sed -n '1,5p' "$WARDEN_SANDBOX/init.out" | sed 's/^/   /'
controller_start
say "listening on $CONTROLLER_ADDR (gRPC, mutual TLS 1.3)"

step "2. alice (operator), bob and carol (approvers) log in with password + TOTP"
for u in alice bob carol admin; do login "$u" | sed 's/^/   /'; done

step "3. A tier-0 host enrolls with a single-use join token and runs wardend"
host_start db1 0 env=prod
sed 's/^/   /' "$HOST_DIR_db1/enroll.out"
say "wardend configure-host edited (copies of) nsswitch.conf, sshd_config and pam.d/sshd:"
sed -n '/BEGIN warden/,/END warden/p' "$HOST_DIR_db1/etc/ssh/sshd_config" | sed 's/^/     /'
say "sshd on 127.0.0.1:$SSHD_PORT_db1 in a private mount namespace with libnss_warden and pam_warden"

step "4. alice asks for tier0-linux-admin for 30 minutes"
rid=$(wctl alice --json request --role tier0-linux-admin --reason "CHG-1234: rotate db1 TLS" --ttl 30m | json_field id)
wctl alice requests | sed 's/^/   /'

step "5. alice tries to approve her own request"
wctl alice approve "$rid" 2>&1 | sed 's/^/   /' || true

step "6. bob approves: one approval is not enough"
wctl bob approve "$rid" | head -1 | sed 's/^/   /'

step "7. carol approves: quorum reached, the request becomes a grant"
wctl carol approve "$rid" | head -1 | sed 's/^/   /'
wctl alice grants | sed 's/^/   /'
grant=$(wctl alice --json grants | json_field id)
login=$(wctl alice --json grants | json_field login)

step "8. Within moments the ephemeral account exists on db1 (and nowhere else)"
for _ in $(seq 50); do in_host db1 getent passwd "$login" >/dev/null && break; sleep 0.1; done
say "\$ getent passwd $login; id $login; cat /etc/sudoers.d/warden"
in_host db1 getent passwd "$login" | sed 's/^/   /'
in_host db1 id "$login" | sed 's/^/   /'
grep -v '^#' "$HOST_DIR_db1/sudoers.d/warden" | sed 's/^/   /'

step "9. alice has her key signed under the grant and logs in"
new_key alice
wctl alice cert sign --grant "$grant" -i "$WARDEN_SANDBOX/alice" | sed 's/^/   /'
say "\$ ssh $login@db1 'id -un; echo \$HOME; sudo -n id -un'"
ssh_as db1 alice "$login" 'id -un; echo $HOME; sudo -n id -un' | sed 's/^/   /'
ssh_as db1 alice "$login" 'setsid sleep 3600 </dev/null >/dev/null 2>&1 &'
say "(and leaves a background job running)"

step "10. Her sessions were recorded in the kernel (eBPF) and streamed to the controller"
say "\$ ssh -t $login@db1 'sudo -n systemctl --version | head -1; ls /etc/ssh | head -3'"
ssh -tt -i "$WARDEN_SANDBOX/alice" -o CertificateFile="$WARDEN_SANDBOX/alice-cert.pub" \
  -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
  -p "$SSHD_PORT_db1" "$login@127.0.0.1" 'sudo -n systemctl --version | head -1; ls /etc/ssh | head -3' \
  </dev/null | sed 's/^/   /'
for _ in $(seq 50); do
  [ "$(wctl admin --json sessions | python3 -c 'import json,sys; print(sum(s["sealed"] for s in json.load(sys.stdin)))')" -ge 3 ] && break
  sleep 0.1
done
say "\$ wardenctl sessions   (as admin, a recording viewer)"
wctl admin sessions | sed 's/^/   /'
sid=$(wctl admin --json sessions --command systemctl | json_field id)
say "\$ wardenctl sessions --command systemctl; wardenctl recordings export $sid --format commands"
wctl admin recordings export "$sid" --format commands | grep -v motd | sed 's/^/   /'
say "\$ wardenctl recordings export $sid --format text"
wctl admin recordings export "$sid" --format text | sed 's/^/   /'
say "\$ wardenctl recordings verify $sid"
wctl admin recordings verify "$sid" | sed 's/^/   /'

step "11. bob revokes the grant: the host ends the lease at once"
wctl bob revoke "$grant" --reason "demo: change finished" | sed 's/^/   /'
for _ in $(seq 50); do in_host db1 getent passwd "$login" >/dev/null || break; sleep 0.1; done
sleep 1
grep "lease of $login" "$HOST_DIR_db1/wardend.log" | sed 's/^.*wardend: /   wardend: /'
in_host db1 getent passwd "$login" >/dev/null && { say "UNEXPECTED: account still resolves"; exit 1; }
say "getent passwd $login: (nothing)"
[ -e "$HOST_DIR_db1/home/$login" ] && { say "UNEXPECTED: home still exists"; exit 1; }
say "home directory: removed; sudo rule: removed"

step "12. The same login is now refused"
if ssh_as db1 alice "$login" true 2>&1 | sed 's/^/   /'; then
  say "UNEXPECTED: login still works" && exit 1
fi
say "the break-glass account still works: $(ssh_as db1 root-db1 root 'echo root ok' 2>/dev/null)"

step "13. A vaulted static password under dual control"
echo -n 'San-Adm1n!' | wctl admin vault put kv/tier0/san-admin | sed 's/^/   /'
wctl alice --json vault get kv/tier0/san-admin >"$WARDEN_SANDBOX/wrap.json"
accessor=$(json_field accessor <"$WARDEN_SANDBOX/wrap.json")
token=$(json_field token <"$WARDEN_SANDBOX/wrap.json")
say "alice's read returned a wrapping token, not the password; accessor $accessor"
wctl alice vault unwrap "$token" 2>&1 | sed 's/^/   /' || true
wctl bob vault authorize "$accessor" --reason "SAN firmware upgrade" | sed 's/^/   /'
wctl carol vault authorize "$accessor" --reason "confirmed" | sed 's/^/   /'
say "with two authorizations alice unwraps it, once: $(wctl alice vault unwrap "$token")"
wctl alice vault unwrap "$token" 2>&1 | sed 's/^/   /' || true

step "14. The audit log proves who did what (values only as HMACs)"
wctl admin audit verify | sed 's/^/   /'
say "events of this run:"
python3 - "$WARDEN_SANDBOX/controller/audit/audit.log" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("type") == "outcome" and e.get("call") not in ("AuthService.WhoAmI", "CaService.GetTrustedKeys", "CaService.GetKrl", "AccessService.ListRequests", "AccessService.ListGrants"):
        print(f"   #{e['seq']:<3} {e.get('actor', '-'):<6} {e['call']:<30} {e['code']}")
PY

printf '\n\033[1mDemo complete.\033[0m Enroll -> grant -> account appears -> login + sudo, recorded -> revoke -> account, processes, home gone -> vaulted password under dual control; all audited.\n'
