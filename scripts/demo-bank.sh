#!/usr/bin/env bash
# The field guide's bank case on real parts: tier-0 admins that exist only for a lease (a Linux
# account on a host, a PostgreSQL role), and a core-banking appliance with one static admin
# password that no operator ever sees: reached only through the SSH gateway, every session held
# until a second person watches it (four-eyes), the password rotated after every use; a password
# changed out of band is caught as a reconcile break (alert received, non-zero exit); and the
# evidence afterwards: who used which credential when, what they typed, the audit chain verified.
# Everything runs on loopback in throwaway directories and private mount namespaces; nothing on
# the system is changed. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >/dev/null
./scripts/build.sh default >/dev/null
export WARDEN_BIN=$PWD/build/default
source scripts/sandbox.sh
tmx() { tmux -L "warden-demo-$$" "$@"; }
cleanup() {
  tmx kill-server 2>/dev/null || true
  pg_down 2>/dev/null || true
  rm -rf "${PG_DIR:-}"
  sandbox_cleanup
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
indent() { sed 's/^/   /'; }

step "1. A controller (keys on a SoftHSM2 token), alerts to a webhook and syslog, a PostgreSQL"
pg_start
controller_init
policy=$WARDEN_SANDBOX/controller/policy.yaml
sed -i "s/^      port: 5432\$/      port: $PG_PORT/" "$policy"
appliance_start "factory-pw"
# The bank's appliance: its admin password is a rotation target of kind ssh, reached through the
# gateway under a broker role whose sessions wait for a moderator.
policy_add_roles <<'PY'
  core-banking-admin:
    tier: 0
    login: "cb-{{user}}"
    max_ttl: 1h
    requesters: [operators]
    approvals: {count: 2, groups: [approvers]}
    extensions: {allowed: [permit-pty], default: [permit-pty]}
    critical_options: {source-address: "127.0.0.0/8"}
    recording: {input: redact}
    require_moderator: {count: 1, groups: [approvers], on_leave: terminate, wait: 5m}
    broker: {target: core-banking, credential: kv/appliance/core-banking, allow: [shell, exec]}
PY
{
  printf 'rotation:\n  targets:\n'
  appliance_target kv/appliance/core-banking appadmin "$APPLIANCE_KEY"
} >>"$policy"
alert_receivers
controller_start
for u in alice bob carol admin; do login "$u" >/dev/null; done
say "controller on $CONTROLLER_ADDR; PostgreSQL on 127.0.0.1:$PG_PORT; alice (operator), bob and carol (approvers) logged in"
echo -n "adminpw-$PG_PORT" | wctl admin vault put db/appdb/admin | indent
echo -n "factory-pw" | wctl admin vault put kv/appliance/core-banking | indent
say "the appliance's factory password is vaulted; from here on only Warden knows it"

step "2. A tier-0 Linux host, and the SSH gateway for the appliance, enroll with join tokens"
host_start db1 0 env=prod
sed 's/^/   /' "$HOST_DIR_db1/enroll.out" | head -1
sshgw_start gw1 0
indent <"$WARDEN_SANDBOX/gw1/enroll.out"

step "3. Ephemeral Linux admin: alice asks for tier0-linux-admin, bob and carol approve"
g_linux=$(grant_for tier0-linux-admin 30m)
linux_login=$(wctl alice --json grants | python3 -c 'import json,sys
print([g["login"] for g in json.load(sys.stdin) if g["id"]==sys.argv[1]][0])' "$g_linux")
wait_for 10 in_host db1 getent passwd "$linux_login" || { say "the account did not appear"; exit 1; }
new_key alice
wctl alice cert sign --grant "$g_linux" -i "$WARDEN_SANDBOX/alice" >/dev/null
say "\$ ssh $linux_login@db1 'id -un; sudo -n id -un'"
ssh_as db1 alice "$linux_login" 'id -un; sudo -n id -un' | indent

step "4. Ephemeral PostgreSQL role: created for a lease, dropped at its end"
wctl alice db creds readonly --ttl 10m | indent
dbuser=$(wctl alice --json lease list | json_field username)
say "\$ SELECT rolname FROM pg_roles WHERE rolname = '$dbuser'   -> $(pg_sql "SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolname = '$dbuser'")"
wctl alice lease revoke "$(wctl alice --json lease list | json_field id)" | indent
say "after the revocation: $(pg_roles "$dbuser") role(s) named $dbuser"

step "5. The appliance: alice asks for core-banking-admin (two approvers), and signs her key"
g_cb=$(grant_for core-banking-admin 30m)
cb_login=$(wctl alice --json grants | python3 -c 'import json,sys
print([g["login"] for g in json.load(sys.stdin) if g["id"]==sys.argv[1]][0])' "$g_cb")
new_key alice-cb
wctl alice cert sign --grant "$g_cb" -i "$WARDEN_SANDBOX/alice-cb" | indent

step "6. Through the gateway; the session waits until an approver watches it (four-eyes)"
say "\$ ssh -p $SSHGW_PORT $cb_login@core-banking@gw1   (an interactive shell on the appliance)"
tmx new-session -d -s alice -x 100 -y 20 \
  "ssh -tt -i $WARDEN_SANDBOX/alice-cb -o CertificateFile=$WARDEN_SANDBOX/alice-cb-cert.pub -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p $SSHGW_PORT -l $cb_login@core-banking 127.0.0.1; sleep 600"
pane() { tmx capture-pane -p -t "$1"; }
has() { pane "$1" | grep -qF -- "$2"; }
wait_for 15 has alice "waits for 1 moderator" || { pane alice; exit 1; }
pane alice | grep -v '^$' | indent
sid=$(wctl bob --json sessions | python3 -c 'import json,sys
print([s["id"] for s in json.load(sys.stdin) if s["ended_ns"] == 0][0])')
say "bob joins it as a moderator: \$ wardenctl join $sid --mode moderator"
tmx new-session -d -s bob -x 100 -y 20 "$WARDENCTL --home $WARDEN_SANDBOX/home-bob join $sid --mode moderator; sleep 600"
wait_for 15 has alice "applicable law" || { pane alice; exit 1; }
tmx send-keys -t alice 'echo "ledger check $((2+2)) ok"; id -un' Enter
wait_for 10 has alice "ledger check 4 ok" || { pane alice; exit 1; }
wait_for 10 has bob "ledger check 4 ok" || { pane bob; exit 1; }
say "alice's screen:"
pane alice | grep -v '^$' | tail -4 | indent
say "bob sees the same, live:"
pane bob | grep -v '^$' | tail -3 | indent
tmx send-keys -t alice 'exit' Enter
rotated() { grep -q "session $sid closed at the controller; credential checked in; rotated" "$WARDEN_SANDBOX/gw1/sshgw.log"; }
wait_for 20 rotated || { tail -5 "$WARDEN_SANDBOX/gw1/sshgw.log"; exit 1; }
grep "session $sid closed" "$WARDEN_SANDBOX/gw1/sshgw.log" | sed 's/^.*warden-sshgw: /   warden-sshgw: /'

step "7. The password alice's session used no longer works; only Warden holds the new one"
say "the factory password against the appliance: $(appliance_login factory-pw 2>&1 | tail -1)"
wctl admin vault metadata kv/appliance/core-banking | indent
grep -qF factory-pw <(pane alice) && { say "UNEXPECTED: the password reached alice's terminal"; exit 1; }
say "alice never saw a password: the gateway typed it on the second leg and wiped it"

step "8. Someone changes the appliance's password at its console: a reconcile break"
echo -n "console-pw" >"$APPLIANCE_PW"
set +e
wctl admin reconcile kv/appliance/core-banking 2>&1 | indent
rc=${PIPESTATUS[0]}
set -e
say "wardenctl reconcile exited with $rc (non-zero: page someone)"
wait_for 10 test -s "$WARDEN_SANDBOX/webhook.log" || { say "no alert arrived"; exit 1; }
say "the webhook received:"
head -1 "$WARDEN_SANDBOX/webhook.log" | cut -c1-200 | indent
wctl admin vault rotation kv/appliance/core-banking | indent

step "9. The evidence: who used which credential when, what they typed"
wctl admin sessions --grant "$g_cb" | indent
say "\$ wardenctl recordings export $sid --format text | tail"
wctl admin recordings export "$sid" --format text | grep -v '^$' | tail -4 | indent
wctl admin recordings verify "$sid" | indent
python3 - "$WARDEN_SANDBOX/controller/audit/audit.log" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    ev = e.get("event", "")
    if ev.startswith(("broker.", "vault.rotate", "vault.used", "rotation.", "session.moderator")):
        keep = {k: e[k] for k in ("event", "user", "by", "path", "target", "grant", "session", "moderator", "why") if k in e}
        print("   #%-4s %s" % (e["seq"], json.dumps(keep)))
PY
wctl admin audit verify | indent

printf '\n\033[1mBank demo complete.\033[0m Ephemeral Linux and PostgreSQL admins; the appliance reached only through the gateway, four-eyes, its password rotated after use and never seen; a console change caught as a reconcile break; every step recorded and audited.\n'
