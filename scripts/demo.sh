#!/usr/bin/env bash
# The Warden demo: an operator gets a 30-minute OpenSSH certificate after two peers approve, logs
# in to a real sshd with it, and loses access the moment the grant is revoked. Everything runs on
# loopback in throwaway directories; nothing on the system is changed. Safe to run again.
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

step "3. alice asks for tier0-linux-admin for 30 minutes"
rid=$(wctl alice --json request --role tier0-linux-admin --reason "CHG-1234: rotate db1 TLS" --ttl 30m | json_field id)
wctl alice requests | sed 's/^/   /'

step "4. alice tries to approve her own request"
wctl alice approve "$rid" 2>&1 | sed 's/^/   /' || true

step "5. bob approves: one approval is not enough"
wctl bob approve "$rid" | head -1 | sed 's/^/   /'

step "6. carol approves: quorum reached, the request becomes a grant"
wctl carol approve "$rid" | head -1 | sed 's/^/   /'
wctl alice grants | sed 's/^/   /'
grant=$(wctl alice --json grants | json_field id)
login=$(wctl alice --json grants | json_field login)

step "7. alice has her key signed under the grant"
new_key alice
wctl alice cert sign --grant "$grant" -i "$WARDEN_SANDBOX/alice" | sed 's/^/   /'
ssh-keygen -L -f "$WARDEN_SANDBOX/alice-cert.pub" | sed -n '2,14p' | sed 's/^/   /'

step "8. A host of tier 0: sshd trusts only tier-0 CA keys and checks Warden's KRL"
sshd_start host1 0 "$login"
say "sshd on 127.0.0.1:$SSHD_PORT_host1 (private mount namespace; $login exists only there)"
say "TrustedUserCAKeys: $(cut -d' ' -f1,3 "$WARDEN_SANDBOX/host1/trusted_user_ca_keys")"

step "9. alice logs in with her certificate"
say "\$ ssh $login@127.0.0.1 'id; hostname'"
ssh_as host1 alice "$login" 'id; hostname' | sed 's/^/   /'

step "10. bob revokes the grant; the host fetches the new KRL"
wctl bob revoke "$grant" --reason "demo: change finished" | sed 's/^/   /'
refresh_krl host1 | sed 's/^/   /'
ssh-keygen -Q -f "$WARDEN_SANDBOX/host1/revoked.krl" "$WARDEN_SANDBOX/alice-cert.pub" 2>&1 | sed 's/^/   ssh-keygen -Q: /' || true

step "11. The same login is now refused"
if ssh_as host1 alice "$login" true 2>&1 | sed 's/^/   /'; then
  say "UNEXPECTED: login still works" && exit 1
fi

step "12. The audit log proves who did what"
wctl admin audit verify | sed 's/^/   /'
say "events of this run:"
python3 - "$WARDEN_SANDBOX/controller/audit/audit.log" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("type") == "outcome" and e.get("call") not in ("AuthService.WhoAmI", "CaService.GetTrustedKeys", "CaService.GetKrl", "AccessService.ListRequests", "AccessService.ListGrants"):
        print(f"   #{e['seq']:<3} {e.get('actor', '-'):<6} {e['call']:<30} {e['code']}")
PY

printf '\n\033[1mDemo complete.\033[0m Grant -> certificate -> login -> revoke -> refused, all audited.\n'
