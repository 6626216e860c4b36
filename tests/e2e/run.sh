#!/usr/bin/env bash
# End-to-end tests: the real warden-controller and wardenctl against a real sshd in a private
# mount namespace. Usage: run.sh TEST_NAME (ctest runs each as e2e.TEST_NAME). Needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/sandbox.sh
source "$here/../../scripts/sandbox.sh"
# Interactive sessions run in a private tmux server.
tm() { tmux -L "warden-e2e-$$" "$@"; }
# A daemon that does not exit on SIGTERM fails the test even after its checks passed.
trap 'tm kill-server 2>/dev/null || true; sandbox_cleanup
[ "$SANDBOX_HUNG" -eq 0 ] || { echo "FAIL: $SANDBOX_HUNG process(es) ignored SIGTERM" >&2; exit 1; }' EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$WARDEN_SANDBOX"/controller.log "$WARDEN_SANDBOX"/*/sshd.log "$WARDEN_SANDBOX"/*/sshgw.log "$WARDEN_SANDBOX"/*/rdpgw.log "$WARDEN_SANDBOX"/rdp-target/shadow.log /run/warden-host.*/wardend.log \
    /run/warden-host.*/sshd.log; do
    [ -f "$f" ] && { echo "--- $f" >&2; grep -v "; retrying in" "$f" | tail -20 >&2; }
  done
  exit 1
}

# expect_fail SUBSTRING CMD...: CMD must fail and print SUBSTRING.
expect_fail() {
  local want=$1 out
  shift
  if out=$("$@" 2>&1); then fail "expected failure from: $* (output: $out)"; fi
  [[ "$out" == *"$want"* ]] || fail "expected \"$want\" from: $*; got: $out"
  echo "  ok: refused as expected: ${out%%$'\n'*}"
}

# expect_out SUBSTRING CMD...: CMD must succeed and print SUBSTRING.
expect_out() {
  local want=$1 out
  shift
  out=$("$@" 2>&1) || fail "command failed: $* (output: $out)"
  [[ "$out" == *"$want"* ]] || fail "expected \"$want\" from: $*; got: $out"
  echo "  ok: $want"
}

setup() {
  controller_init "$@"
  controller_start
  for u in alice bob carol admin; do login "$u" >/dev/null; done
}

e2e_demo_flow() {
  setup
  local g login
  g=$(grant_for tier0-linux-admin 30m)
  login=$(wctl alice --json grants | json_field login)
  [[ "$login" == adm-alice-* ]] || fail "unexpected login $login"
  new_key op
  wctl alice cert sign --grant "$g" -i "$WARDEN_SANDBOX/op" >/dev/null
  expect_out "Principals: " ssh-keygen -L -f "$WARDEN_SANDBOX/op-cert.pub"
  sshd_start tier0 0 "$login"
  expect_out "$login" ssh_as tier0 op "$login" id -un
  # wardenctl ssh finds the grant for the login, signs the key and runs ssh.
  new_key op2
  expect_out "via-wardenctl-ssh $login" wctl alice ssh -i "$WARDEN_SANDBOX/op2" -p "$SSHD_PORT_tier0" \
    --ssh-option StrictHostKeyChecking=no --ssh-option UserKnownHostsFile=/dev/null \
    --ssh-option BatchMode=yes --ssh-option LogLevel=ERROR "$login@127.0.0.1" -- echo via-wardenctl-ssh '$(id -un)'
  [ -s "$WARDEN_SANDBOX/op2-cert.pub" ] || fail "wardenctl ssh did not write op2-cert.pub"
  wctl bob revoke "$g" >/dev/null
  refresh_krl tier0 >/dev/null
  expect_fail "REVOKED" ssh-keygen -Q -f "$WARDEN_SANDBOX/tier0/revoked.krl" "$WARDEN_SANDBOX/op-cert.pub"
  expect_fail "Permission denied" ssh_as tier0 op "$login" id -un
  expect_out "Audit log OK" wctl admin audit verify
}

e2e_self_approval() {
  setup
  local rid
  rid=$(wctl alice --json request --role tier0-linux-admin --reason CHG-1 | json_field id)
  expect_fail "cannot review your own request" wctl alice approve "$rid"
  expect_out "[pending]" wctl alice requests
}

e2e_single_approver() {
  setup
  local rid
  rid=$(wctl alice --json request --role tier0-linux-admin --reason CHG-1 | json_field id)
  expect_out "Approval recorded: 1 of 2" wctl bob approve "$rid"
  expect_out "Approval recorded: 1 of 2" wctl bob approve "$rid"
  expect_out "No active grants" wctl alice grants
  new_key op
  expect_fail "no active grant for login adm-alice" wctl alice ssh -i "$WARDEN_SANDBOX/op" adm-alice-zzzz@127.0.0.1
  sshd_start tier0 0 adm-alice-zzzz
  # A plain key (no certificate) is refused by the sandboxed sshd.
  expect_fail "Permission denied" ssh -i "$WARDEN_SANDBOX/op" -o IdentitiesOnly=yes \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
    -p "$SSHD_PORT_tier0" adm-alice-zzzz@127.0.0.1 true
}

e2e_cross_tier() {
  setup
  local g login
  # tier1-linux-ops needs one approval.
  rid=$(wctl alice --json request --role tier1-linux-ops --reason CHG-2 | json_field id)
  g=$(wctl bob --json approve "$rid" | json_field grant_id)
  login=$(wctl alice --json grants | json_field login)
  new_key op
  wctl alice cert sign --grant "$g" -i "$WARDEN_SANDBOX/op" >/dev/null
  sshd_start tier0 0 "$login"
  sshd_start tier1 1 "$login"
  expect_out "$login" ssh_as tier1 op "$login" id -un
  expect_fail "Permission denied" ssh_as tier0 op "$login" id -un
  # The tier-0 sshd refused because the signing CA is not among its trusted keys.
  grep -q "is not listed in $WARDEN_SANDBOX/tier0/trusted_user_ca_keys" "$WARDEN_SANDBOX/tier0/sshd.log" ||
    fail "tier0 sshd did not refuse for an untrusted CA"
  echo "  ok: tier-0 sshd: the tier-1 CA is not listed in its TrustedUserCAKeys"
}

e2e_revoked_cert() {
  setup
  local g login
  g=$(grant_for tier0-linux-admin 30m)
  login=$(wctl alice --json grants | json_field login)
  new_key op
  wctl alice cert sign --grant "$g" -i "$WARDEN_SANDBOX/op" >/dev/null
  sshd_start tier0 0 "$login"
  expect_out "$login" ssh_as tier0 op "$login" id -un
  expect_out "Revoked grant $g" wctl carol revoke "$g" --reason "incident"
  expect_out "1 revoked certificates" refresh_krl tier0
  expect_fail "Permission denied" ssh_as tier0 op "$login" id -un
  grep -q "revoked" "$WARDEN_SANDBOX/tier0/sshd.log" || fail "sshd did not log a revoked key"
  expect_fail "is revoked" wctl alice cert sign --grant "$g" -i "$WARDEN_SANDBOX/op"
  expect_out "unchanged" wctl alice krl -o "$WARDEN_SANDBOX/tier0/revoked.krl" \
    --if-newer-than "$(wctl alice --json krl -o "$WARDEN_SANDBOX/k2" | json_field version)"
}

e2e_audit_tamper() {
  setup
  grant_for tier0-linux-admin >/dev/null
  expect_out "Audit log OK" wctl admin audit verify
  local log=$WARDEN_SANDBOX/controller/audit/audit.log
  local pub=$WARDEN_SANDBOX/controller/audit-key.pub
  # Cut the log's last lines while the controller is stopped (its closing checkpoint anchored the
  # head in its database): it refuses to start and names the missing line.
  controller_stop
  cp "$log" "$WARDEN_SANDBOX/whole.log"
  local lines
  lines=$(wc -l <"$log")
  head -n $((lines - 3)) "$WARDEN_SANDBOX/whole.log" >"$log"  # the same file, shorter
  if controller_start 2>/dev/null; then fail "the controller started on a log cut at its end"; fi
  expect_out "ends at line $((lines - 3)), but the controller sealed line $lines" \
    cat "$WARDEN_SANDBOX/controller.log"
  # Offline, the cut copy ends after its last checkpoint: refused unless explicitly allowed.
  expect_fail "nothing proves lines were not cut off its end" wctl admin audit verify --file "$log" --key "$pub"
  expect_out "Audit log OK" wctl admin audit verify --file "$WARDEN_SANDBOX/whole.log" --key "$pub"
  cp "$WARDEN_SANDBOX/whole.log" "$log"
  controller_start
  expect_out "Audit log OK" wctl admin audit verify
  cp "$log" "$WARDEN_SANDBOX/pristine.log"
  # Edit one event in place (same file): bob's approval becomes "mal"'s.
  python3 - "$log" <<'PY'
import sys
p = sys.argv[1]
data = open(p, "rb").read()
i = data.index(b'"actor":"bob"')
with open(p, "r+b") as f:
    f.seek(i)
    f.write(b'"actor":"mal"')
PY
  expect_fail "was edited, or lines were removed or reordered" wctl admin audit verify
  # Offline verification of copies with the audit public key names the edited line. A copy of
  # the running log ends after its last checkpoint: verified only when that is accepted.
  expect_fail "--allow-unsealed-tail" wctl admin audit verify --file "$WARDEN_SANDBOX/pristine.log" --key "$pub"
  expect_out "Audit log OK" wctl admin audit verify --file "$WARDEN_SANDBOX/pristine.log" --key "$pub" \
    --allow-unsealed-tail
  expect_fail "does not chain to line" wctl admin audit verify --file "$log" --key "$pub" --allow-unsealed-tail
  # Reorder two lines in place.
  python3 - "$WARDEN_SANDBOX/pristine.log" "$log" <<'PY'
import sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
lines[2], lines[3] = lines[3], lines[2]
with open(sys.argv[2], "r+b") as f:
    f.write(b"\n".join(lines))
PY
  expect_fail "verification FAILED" wctl admin audit verify
  # Replace the file (as sed -i does): the controller notices its log was swapped.
  sed -i '3d' "$log"
  expect_fail "was replaced" wctl admin audit verify
}

e2e_audit_readonly() {
  controller_init
  local audit=$WARDEN_SANDBOX/controller/audit
  # The controller sees its audit directory read-only (a bind mount in its own namespace).
  controller_start unshare -m sh -c "mount --bind '$audit' '$audit' && mount -o remount,bind,ro '$audit' && exec \"\$@\"" --
  expect_fail "audit log" login alice
  expect_fail "requests are refused" login bob
  controller_stop
  # With the directory writable again nothing of the refused calls exists.
  controller_start
  login alice >/dev/null
  expect_out "No requests" wctl alice requests --all
}

e2e_audit_full_disk() {
  setup
  controller_stop
  local audit=$WARDEN_SANDBOX/controller/audit
  cp -a "$audit" "$WARDEN_SANDBOX/audit.before"
  # A 16 KiB tmpfs holds the audit directory: a handful of calls fill it.
  controller_start unshare -m sh -c "mount -t tmpfs -o size=16k tmpfs '$audit' && cp -a '$WARDEN_SANDBOX/audit.before/.' '$audit/' && exec \"\$@\"" --
  local i out refused=0
  for i in $(seq 1 200); do
    if ! out=$(wctl alice --json request --role tier0-linux-admin --reason "fill-$i" 2>&1); then
      [[ "$out" == *"No space left on device"* ]] || fail "unexpected error: $out"
      refused=1
      break
    fi
  done
  [ "$refused" = 1 ] || fail "the full disk never refused a call"
  echo "  ok: refused on a full disk after $((i - 1)) requests: ${out%%$'\n'*}"
  expect_fail "No space left" wctl alice whoami
  # The log on the full disk is still a valid chain (torn lines cut off): copy it out and verify.
  local copy=$WARDEN_SANDBOX/full.log
  nsenter -t "$CONTROLLER_PID" -m cat "$audit/audit.log" >"$copy" 2>/dev/null ||
    nsenter -t "$(pgrep -P "$CONTROLLER_PID" || echo "$CONTROLLER_PID")" -m cat "$audit/audit.log" >"$copy"
  wctl admin ca keys --tier 0 >/dev/null 2>&1 || true
  tail -c1 "$copy" | od -c | grep -q '\\n' || fail "audit log ends in a torn line"
  python3 - "$copy" <<'PY' || fail "audit log lines are not all complete JSON"
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    json.loads(line)
PY
  echo "  ok: audit log on the full disk holds only complete events"
}

e2e_tls12_refused() {
  setup
  expect_out "New, TLSv1.3" sh -c "echo | openssl s_client -connect $CONTROLLER_ADDR -tls1_3 \
    -CAfile $WARDEN_SANDBOX/controller/tls/ca.crt 2>&1; true"
  expect_out "Verify return code: 0 (ok)" sh -c "echo | openssl s_client -connect $CONTROLLER_ADDR \
    -CAfile $WARDEN_SANDBOX/controller/tls/ca.crt 2>&1; true"
  expect_fail "no peer certificate available" sh -c "echo | openssl s_client \
    -connect $CONTROLLER_ADDR -tls1_2 -CAfile $WARDEN_SANDBOX/controller/tls/ca.crt 2>&1"
}

e2e_bad_input() {
  setup
  expect_fail "unknown role \"tier9\"; roles: tier0-linux-admin" \
    wctl alice request --role tier9 --reason x
  local g
  g=$(grant_for tier0-linux-admin)
  echo "ssh-ed25519 AAAAnot-a-key" >"$WARDEN_SANDBOX/bad.pub"
  touch "$WARDEN_SANDBOX/bad"
  expect_fail "base64" wctl alice cert sign --grant "$g" -i "$WARDEN_SANDBOX/bad"
  ssh-keygen -q -t rsa -b 1024 -N '' -f "$WARDEN_SANDBOX/small"
  expect_fail "at least 2048" wctl alice cert sign --grant "$g" -i "$WARDEN_SANDBOX/small"
  expect_fail "not logged in" "$WARDENCTL" --home "$WARDEN_SANDBOX/nobody" grants
  expect_fail "wrong user name, password or one-time code" \
    env WARDEN_PASSWORD=wrong "$WARDENCTL" --home "$WARDEN_SANDBOX/home-x" login \
    --controller "$CONTROLLER_ADDR" --ca-file "$WARDEN_SANDBOX/controller/tls/ca.crt" --user carol --otp 123456
  # A one-time code works once: replaying the very same code is refused.
  "$CONTROLLER" user add --config "$WARDEN_SANDBOX/controller/controller.yaml" dave >"$WARDEN_SANDBOX/dave.out"
  local code
  code=$(oathtool --totp -b "$(awk '/TOTP secret:/{print $3}' "$WARDEN_SANDBOX/dave.out")")
  for attempt in first replay; do
    if [ "$attempt" = first ]; then run=expect_out; want="Logged in"; else run=expect_fail; want="each code works once"; fi
    $run "$want" env WARDEN_PASSWORD="$(awk '/password:/{print $2}' "$WARDEN_SANDBOX/dave.out")" \
      "$WARDENCTL" --home "$WARDEN_SANDBOX/home-dave-$attempt" login --controller "$CONTROLLER_ADDR" \
      --ca-file "$WARDEN_SANDBOX/controller/tls/ca.crt" --user dave --otp "$code"
  done
  new_key op
  expect_fail "outside the role's source-address" \
    wctl alice cert sign --grant "$g" -i "$WARDEN_SANDBOX/op" --source-address 0.0.0.0/0
  expect_fail "CA rotation is for admins" wctl alice ca rotate --tier 0
  expect_out "retiring" wctl admin --json ca rotate --tier 0
  expect_out "active" wctl admin --json ca rotate --tier 0 --finish
}

# --- host side: wardend, libnss_warden, pam_warden through a real sshd -------------------------


resolves() { in_host h1 getent passwd "$1"; }
gone() { ! in_host h1 getent passwd "$1"; }
no_processes() { ! pgrep -u "$1" >/dev/null; }

# host_grant TTL [WAIT]: a grant of $ROLE (default tier0-linux-admin), its account resolving on
# h1 within WAIT seconds (5), and a certificate for key "op".
host_grant() {
  G=$(grant_for "${ROLE:-tier0-linux-admin}" "$1")
  LOGIN=$(wctl alice --json grants | python3 -c 'import json,sys
print([g["login"] for g in json.load(sys.stdin) if g["id"]==sys.argv[1]][0])' "$G")
  wait_for "${2:-5}" resolves "$LOGIN" || fail "$LOGIN does not resolve on h1"
  ACCOUNT_UID=$(in_host h1 id -u "$LOGIN")
  new_key op
  wctl alice cert sign --grant "$G" -i "$WARDEN_SANDBOX/op" >/dev/null
}

# grant_end: when the lease of the last host_grant ends (unix seconds).
grant_end() {
  wctl alice --json grants | python3 -c 'import json,sys
print([g["end"] for g in json.load(sys.stdin) if g["id"]==sys.argv[1]][0])' "$G"
}

# start_background_job: a process of the account that outlives its ssh connection.
start_background_job() {
  ssh_as h1 op "$LOGIN" 'setsid sleep 1000 </dev/null >/dev/null 2>&1 &'
  wait_for 5 pgrep -u "$ACCOUNT_UID" sleep || fail "background job of $LOGIN did not start"
}

# expect_ended: the account is gone from NSS, its processes and home are gone, and it cannot log in.
expect_ended() {
  local home_dir
  home_dir=$HOST_DIR_h1/home/$LOGIN
  wait_for 5 gone "$LOGIN" || fail "$LOGIN still resolves"
  echo "  ok: getent passwd $LOGIN is empty"
  wait_for 5 no_processes "$ACCOUNT_UID" || fail "processes of uid $ACCOUNT_UID survive: $(pgrep -a -u "$ACCOUNT_UID")"
  echo "  ok: no process of uid $ACCOUNT_UID"
  wait_for 5 test ! -e "$home_dir" || fail "$home_dir still exists"
  echo "  ok: home removed"
  grep -q "^$LOGIN " "$HOST_DIR_h1/sudoers.d/warden" && fail "sudo rule of $LOGIN is still there"
  echo "  ok: sudo rule removed"
  expect_fail "Permission denied" ssh_as h1 op "$LOGIN" true
}

e2e_host_lease() {
  setup
  host_start h1 0 env=prod
  expect_out "enrolled as h-" cat "$HOST_DIR_h1/enroll.out"
  # Long enough for the checks below on a loaded machine (six logins took over 25 s beside two
  # builds); the expiry is then awaited.
  host_grant 40s
  local end
  end=$(grant_end)
  expect_out "uid=$ACCOUNT_UID($LOGIN) gid=$ACCOUNT_UID($LOGIN) groups=$ACCOUNT_UID($LOGIN)," in_host h1 id "$LOGIN"
  expect_out "(warden-admins)" in_host h1 id "$LOGIN"
  [ "$ACCOUNT_UID" -ge 1879048192 ] || fail "uid $ACCOUNT_UID is inside systemd's ranges"
  expect_out "$LOGIN" ssh_as h1 op "$LOGIN" id -un
  expect_out "drwx------ $LOGIN $LOGIN" ssh_as h1 op "$LOGIN" 'stat -c "%A %U %G" "$HOME"'
  expect_out "sudo-ok" ssh_as h1 op "$LOGIN" 'sudo -n true && echo sudo-ok'
  expect_out "$LOGIN ALL=(ALL) NOPASSWD: ALL" cat "$HOST_DIR_h1/sudoers.d/warden"
  start_background_job
  local now
  now=$(date +%s)
  [ "$now" -lt "$end" ] || fail "the lease ended before the checks finished"
  sleep $((end - now))
  expect_ended
  # The controller learns how it ended.
  wait_for 5 grep -q "\"login\":\"$LOGIN\".*HostService.ReportLeaseEnd" "$WARDEN_SANDBOX/controller/audit/audit.log" ||
    fail "no lease-end report in the audit log"
  echo "  ok: lease end reported to the controller"
  # A restart remembers: the account does not come back.
  wardend_stop h1
  wardend_start h1
  expect_fail "Permission denied" ssh_as h1 op "$LOGIN" true
}

e2e_host_controller_down() {
  setup
  host_start h1 0 env=prod
  # Long enough to log in first on a loaded machine; the expiry is then awaited.
  host_grant 30s
  local end now
  end=$(grant_end)
  start_background_job
  controller_stop
  echo "  controller stopped; waiting for the lease to end on the host's own clock"
  now=$(date +%s)
  [ "$now" -lt "$end" ] || fail "the lease ended before the controller was stopped"
  sleep $((end - now))
  expect_ended
  # The controller comes back: wardend reconnects (backoff) and resumes; a new grant arrives.
  controller_start
  host_grant 10m 10
  expect_out "$LOGIN" ssh_as h1 op "$LOGIN" id -un
  [ "$(grep -c "connected to" "$HOST_DIR_h1/wardend.log")" -ge 2 ] || fail "wardend did not reconnect"
  echo "  ok: wardend reconnected and resumed"
}

e2e_host_wardend_down() {
  setup
  host_start h1 0 env=prod
  host_grant 10m
  expect_out "$LOGIN" ssh_as h1 op "$LOGIN" id -un
  wardend_stop h1
  # The certificate and its principals file still hold; pam_warden's account check refuses, and
  # sshd shows its reason (a banner, printed at ssh's default log level).
  SSH_LOG_LEVEL=INFO expect_fail "host agent (wardend) is not reachable" ssh_as h1 op "$LOGIN" true
  expect_fail "host agent (wardend) is not reachable" in_host h1 pamtester sshd "$LOGIN" acct_mgmt
  # ...and the break-glass account still gets in; an ordinary local account is not Warden's
  # business either way.
  expect_out "break-glass-ok" ssh_as h1 "root-h1" root 'echo break-glass-ok'
  expect_out "local-ok" ssh_as h1 "localops-h1" localops 'echo local-ok'
  # Restarted the way systemd runs it: readiness over NOTIFY_SOCKET, priorities for journald.
  python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(20)
print(s.recv(256).decode())' "$HOST_DIR_h1/notify.sock" >"$HOST_DIR_h1/notify.out" &
  local listener=$!
  wait_for 5 test -S "$HOST_DIR_h1/notify.sock"
  NOTIFY_SOCKET=$HOST_DIR_h1/notify.sock JOURNAL_STREAM=8:1 wardend_start h1
  wait "$listener"
  expect_out "READY=1" cat "$HOST_DIR_h1/notify.out"
  expect_out "<6>host h-" cat "$HOST_DIR_h1/wardend.log"
  expect_out "$LOGIN" ssh_as h1 op "$LOGIN" id -un
}

e2e_host_revoke() {
  setup
  host_start h1 0 env=prod
  host_grant 10m
  expect_out "$LOGIN" ssh_as h1 op "$LOGIN" id -un
  start_background_job
  wctl bob revoke "$G" >/dev/null
  expect_ended
  expect_out "revoked by the controller" cat "$HOST_DIR_h1/wardend.log"
}

# --- lease end and the agent socket against the account's own user -------------------------------

no_process() { ! pgrep "$@" >/dev/null; }

# The account starts, in the background: a fork runner (a new pid every few milliseconds,
# SIGTERM ignored), a setsid'd daemon that ignores SIGTERM, and a child through its own sudo
# (uid 0 from then on). Revocation must leave none of them.
e2e_host_lease_attacks() {
  setup
  host_start h1 0 env=prod
  host_grant 10m
  local trail=/tmp/warden-e2e-runner.$$ root_child="sleep 7$$"
  rm -f "$trail"
  # The runner leaves a trail (a byte per generation): a scan of /proc rarely even sees it alive.
  ssh_as h1 op "$LOGIN" 'setsid /usr/bin/python3 -c "import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
for _ in range(10**6):
    time.sleep(0.002)
    with open(sys.argv[1], \"a\") as f: f.write(\".\")
    if os.fork(): os._exit(0)" '"$trail"' </dev/null >/dev/null 2>&1 &
setsid sh -c "trap \"\" TERM; exec sleep 1000" </dev/null >/dev/null 2>&1 &
sudo -n setsid '"$root_child"' </dev/null >/dev/null 2>&1 &'
  wait_for 5 test -s "$trail" || fail "the fork runner did not start"
  wait_for 5 pgrep -u 0 -f "^$root_child\$" || fail "the sudo'd child did not start"
  grep -q "^0::.*/u$ACCOUNT_UID-s-" "/proc/$(pgrep -u 0 -f "^$root_child\$" | head -1)/cgroup" ||
    fail "the sudo'd child is not in the session's cgroup"
  echo "  ok: the attack runs (fork runner, detached daemon, sudo'd root child), all in the session's cgroup"
  wctl bob revoke "$G" >/dev/null
  expect_ended
  local before
  before=$(stat -c %s "$trail")
  sleep 1
  [ "$(stat -c %s "$trail")" = "$before" ] || fail "the fork runner survived the lease (its trail still grows)"
  rm -f "$trail"
  wait_for 5 no_process -f "^$root_child\$" || fail "the sudo'd child survived the lease"
  echo "  ok: no fork runner, no sudo'd child left"
  wait_for 5 grep -q "lease of $LOGIN .* ended: revoked" "$HOST_DIR_h1/wardend.log" || fail "no lease-end line"
  grep -q "incomplete" "$HOST_DIR_h1/wardend.log" && fail "the lease end needed a retry"
  # The break-glass account is untouched.
  expect_out "break-glass-ok" ssh_as h1 "root-h1" root 'echo break-glass-ok'
}

# A lease end that cannot finish (the account nested its home deeper than wardend descends) stays
# "ending": alerted on the host and at the controller, retried, and completed once it can be.
e2e_host_lease_end_alert() {
  setup
  host_start h1 0 env=prod
  host_grant 10m
  ssh_as h1 op "$LOGIN" 'p=$HOME; for i in $(seq 300); do p=$p/d; done; mkdir -p "$p"'
  wctl bob revoke "$G" >/dev/null
  wait_for 10 grep -q "lease end of $LOGIN (uid $ACCOUNT_UID) is incomplete after attempt 1: .*nested deeper than 256" \
    "$HOST_DIR_h1/wardend.log" || fail "no alert on the host"
  echo "  ok: wardend alerts: $(grep -m1 "lease end of $LOGIN" "$HOST_DIR_h1/wardend.log" | cut -c22-)"
  wait_for 10 grep -q "\"alert\":true.*\"incomplete\":true.*\"login\":\"$LOGIN\".*HostService.ReportLeaseEnd" \
    "$WARDEN_SANDBOX/controller/audit/audit.log" || fail "the controller's audit log has no alert"
  echo "  ok: the controller's audit log carries the alert"
  grep -q "lease of $LOGIN .* ended: revoked" "$HOST_DIR_h1/wardend.log" && fail "an incomplete end was counted as done"
  rm -rf "$HOST_DIR_h1/home/$LOGIN/d"  # an admin clears what the account left
  wait_for 20 grep -q "lease of $LOGIN .* ended: revoked" "$HOST_DIR_h1/wardend.log" || fail "the retry did not complete"
  expect_ended
  wait_for 10 grep -q "\"home_removed\":true.*\"login\":\"$LOGIN\".*HostService.ReportLeaseEnd" \
    "$WARDEN_SANDBOX/controller/audit/audit.log" || fail "no final report"
  echo "  ok: completed on a later attempt and reported"
}

# Another local user cannot connect to the agent socket; one in the principals user's group floods it
# with idle connections and requests it never reads the answers to; Warden logins and lease ends go on.
e2e_host_socket_flood() {
  setup
  host_start h1 0 env=prod
  host_grant 10m
  # Another local user cannot even connect: the socket is 0660 in the principals user's group.
  expect_out "PermissionError" in_host h1 setpriv --reuid=61900 --regid=61900 --clear-groups \
    /usr/bin/python3 -c 'import socket, sys
try:
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(sys.argv[1])
    print("connected")
except PermissionError:
    print("PermissionError")' "$HOST_DIR_h1/agent.sock"
  # One that shares that group (another service running as nogroup) can, and is held to its caps.
  in_host h1 setpriv --reuid=61900 --regid="$(getent group nogroup | cut -d: -f3)" --clear-groups /usr/bin/python3 -c 'import socket, sys, time
req = bytes([0, 0, 0, 22, 10, 20, 10, 18]) + b"adm-alice-00000000"  # AgentRequest.account.user
held = []
for i in range(3000):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(0.2)
    try:
        s.connect(sys.argv[1])
        if i < 16:
            s.setblocking(False)
            for _ in range(500):
                try: s.send(req)
                except OSError: break
    except OSError:
        pass
    held.append(s)
print("flooding", flush=True)
time.sleep(30)' "$HOST_DIR_h1/agent.sock" >"$WARDEN_SANDBOX/flood.out" 2>&1 &
  local flood=$!
  wait_for 20 grep -q flooding "$WARDEN_SANDBOX/flood.out" || fail "the flood did not start: $(cat "$WARDEN_SANDBOX/flood.out")"
  echo "  ok: uid 61900 (group nogroup) holds its connections and never reads"
  local i
  for i in 1 2 3; do expect_out "$LOGIN" ssh_as h1 op "$LOGIN" id -un; done
  start_background_job
  wctl bob revoke "$G" >/dev/null
  expect_ended
  kill "$flood" 2>/dev/null || true
  wait "$flood" 2>/dev/null || true
  expect_out "closed at once" cat "$HOST_DIR_h1/wardend.log"
}

e2e_host_selectors() {
  setup
  host_start h1 0 env=prod
  host_start h2 1 env=prod
  host_grant 10m
  # A tier-0 account never appears on a tier-1 host.
  sleep 0.5
  in_host h2 getent passwd "$LOGIN" && fail "$LOGIN resolves on the tier-1 host"
  echo "  ok: $LOGIN does not resolve on the tier-1 host"
  # A malformed or unknown token enrolls nothing.
  expect_fail "join token not recognised" "$HOST_DIR_h1/bin/wardend" --config "$HOST_DIR_h1/host.yaml" \
    enroll --controller "$CONTROLLER_ADDR" --token wjt_nope --ca-file "$WARDEN_SANDBOX/controller/tls/ca.crt" \
    --ssh-host-key "$HOST_DIR_h1/host_key.pub"
}

# A join token names the hostnames it enrolls, and each tier has its own SSH host CA: a tier-2
# token cannot make a host certificate for a tier-0 name, and an operator who trusts tier 0's
# host CA accepts tier-0 hosts only. A fleet token for 3 hosts of a pattern enrolls 3 and refuses a
# fourth; a host enrolled again under its name replaces its old identity.
e2e_host_token_binding() {
  setup
  host_start dc1 0 env=prod
  host_start web7 2 env=prod
  expect_fail "a join token names the host it enrolls: add --hostname NAME" \
    wctl admin host token create --tier 2 --labels env=prod
  local token state
  token=$(wctl admin --json host token create --tier 2 --hostname web8 --ttl 10m | json_field token)
  state=$(mktemp -d "$WARDEN_SANDBOX/attacker.XXXXXX")
  printf 'state_dir: %s/state\nagent_socket: %s/agent.sock\n' "$state" "$state" >"$state/host.yaml"
  expect_fail "this join token enrolls only web8, not dc1" \
    "$HOST_DIR_dc1/bin/wardend" --config "$state/host.yaml" enroll --controller "$CONTROLLER_ADDR" \
    --token "$token" --ca-file "$WARDEN_SANDBOX/controller/tls/ca.crt" --hostname dc1 \
    --ssh-host-key "$HOST_DIR_dc1/host_key.pub"
  # The real ssh client as the judge: known_hosts trusting tier 0's host CA only.
  wctl alice ca keys --host --tier 0 | sed 's/^/@cert-authority * /' >"$WARDEN_SANDBOX/known_hosts0"
  local name port_var
  for name in dc1 web7; do
    port_var="SSHD_PORT_$name"
    if ssh -i "$WARDEN_SANDBOX/root-$name" -o IdentitiesOnly=yes -o BatchMode=yes \
      -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$WARDEN_SANDBOX/known_hosts0" \
      -o HostKeyAlias="$name" -o LogLevel=ERROR -o ConnectTimeout=5 -p "${!port_var}" \
      root@127.0.0.1 true 2>"$WARDEN_SANDBOX/ssh-$name.err"; then
      [ "$name" = dc1 ] || fail "tier 0's host CA vouched for the tier-2 host $name"
      echo "  ok: tier 0's host CA vouches for dc1"
    else
      [ "$name" = web7 ] || fail "ssh to $name failed: $(cat "$WARDEN_SANDBOX/ssh-$name.err")"
      expect_out "Host key verification failed" cat "$WARDEN_SANDBOX/ssh-$name.err"
    fi
  done
  # Fleet enrollment: a token for 3 hosts named edge-* enrolls three and refuses a fourth.
  token=$(wctl admin --json host token create --tier 1 --hostname 'edge-*.example.com' --uses 3 --ttl 10m |
    json_field token)
  local i
  for i in 1 2 3 4; do
    state=$(mktemp -d "$WARDEN_SANDBOX/edge$i.XXXXXX")
    printf 'state_dir: %s/state\nagent_socket: %s/agent.sock\n' "$state" "$state" >"$state/host.yaml"
    set -- "$HOST_DIR_dc1/bin/wardend" --config "$state/host.yaml" enroll --controller "$CONTROLLER_ADDR" \
      --token "$token" --ca-file "$WARDEN_SANDBOX/controller/tls/ca.crt" --hostname "edge-$i.example.com" \
      --ssh-host-key "$HOST_DIR_dc1/host_key.pub"
    if [ "$i" -le 3 ]; then "$@" >/dev/null || fail "edge-$i was not enrolled"; else
      expect_fail "join token was used for all 3 hosts it may enroll" "$@"
    fi
  done
  expect_fail "join token was used for all 3 hosts" "$HOST_DIR_dc1/bin/wardend" --config "$state/host.yaml" \
    enroll --controller "$CONTROLLER_ADDR" --token "$token" --ca-file "$WARDEN_SANDBOX/controller/tls/ca.crt" \
    --hostname "edge-1.example.com" --ssh-host-key "$HOST_DIR_dc1/host_key.pub"
  echo "  ok: a token for 3 hosts enrolled 3 and refused a fourth"
  # dc1 is reimaged and enrolled again: its old identity stops working.
  local old_id
  old_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["host_id"])' "$HOST_DIR_dc1/state/enrollment.json")
  token=$(wctl admin --json host token create --tier 0 --hostname dc1 --ttl 10m | json_field token)
  state=$(mktemp -d "$WARDEN_SANDBOX/reimaged.XXXXXX")
  printf 'state_dir: %s/state\nagent_socket: %s/agent.sock\n' "$state" "$state" >"$state/host.yaml"
  "$HOST_DIR_dc1/bin/wardend" --config "$state/host.yaml" enroll --controller "$CONTROLLER_ADDR" \
    --token "$token" --ca-file "$WARDEN_SANDBOX/controller/tls/ca.crt" --hostname dc1 \
    --ssh-host-key "$HOST_DIR_dc1/host_key.pub" >/dev/null
  wardend_stop dc1
  : >"$HOST_DIR_dc1/wardend.log"
  setsid "$HOST_DIR_dc1/bin/wardend" --config "$HOST_DIR_dc1/host.yaml" run >>"$HOST_DIR_dc1/wardend.log" 2>&1 &
  SANDBOX_PIDS+=("$!")
  wait_for 15 grep -q "host $old_id (dc1) was enrolled again as h-" "$HOST_DIR_dc1/wardend.log" ||
    fail "the replaced identity still works: $(cat "$HOST_DIR_dc1/wardend.log")"
  echo "  ok: enrolling dc1 again replaced its old identity (refused: $(grep -o "was enrolled again as h-[a-z0-9]*" "$HOST_DIR_dc1/wardend.log" | head -1))"
}

# configure_h1 [ARGS...]: configure-host on h1's copies of /etc.
configure_h1() {
  local d=$HOST_DIR_h1
  "$d/bin/wardend" --config "$d/host.yaml" configure-host --etc "$d/etc" \
    --principals-command "$d/bin/warden-principals" \
    --pam-module "$WARDEN_BIN/pam_module/pam_warden.so" "$@"
}

e2e_host_configure() {
  setup
  host_start h1 0 env=prod
  local d=$HOST_DIR_h1 f
  # configure-host ran once in host_start; a second run changes nothing.
  for f in nsswitch.conf ssh/sshd_config pam.d/sshd; do cp "$d/etc/$f" "$d/$(basename "$f").first"; done
  configure_h1 >/dev/null
  for f in nsswitch.conf ssh/sshd_config pam.d/sshd; do
    cmp "$d/etc/$f" "$d/$(basename "$f").first" || fail "second configure-host changed $f"
  done
  echo "  ok: configure-host is idempotent"
  expect_out "passwd:         files warden systemd" cat "$d/etc/nsswitch.conf"
  # Only Warden's CAs are trusted: sshd reads the principals files wardend keeps.
  expect_out "AuthorizedPrincipalsFile $d/state/principals/%u" cat "$d/etc/ssh/sshd_config"
  # A relative --config is written as an absolute path: sshd and PAM run elsewhere.
  (cd "$d" && "$d/bin/wardend" --config host.yaml configure-host --etc "$d/etc" \
    --principals-command "$d/bin/warden-principals" \
    --pam-module "$WARDEN_BIN/pam_module/pam_warden.so" >/dev/null)
  for f in nsswitch.conf ssh/sshd_config pam.d/sshd; do
    cmp "$d/etc/$f" "$d/$(basename "$f").first" || fail "a relative --config changed $f"
  done
  echo "  ok: a relative --config is written as $d/host.yaml"

  # The END line lost to a hand edit: refused, and sshd_config keeps UsePAM and everything else.
  grep -v '^# END warden' "$d/sshd_config.first" >"$d/etc/ssh/sshd_config"
  cp "$d/etc/ssh/sshd_config" "$d/sshd_config.noend"
  expect_fail 'has no "# END warden" after it' configure_h1
  expect_fail 'has no "# END warden" after it' configure_h1 --revert
  cmp "$d/etc/ssh/sshd_config" "$d/sshd_config.noend" || fail "a refused configure-host changed sshd_config"
  echo "  ok: sshd_config without the END line is left as it was"
  cp "$d/sshd_config.first" "$d/etc/ssh/sshd_config"

  # Edits made after the first run survive --revert, byte for byte.
  echo "X11Forwarding no" >>"$d/etc/ssh/sshd_config"
  echo "session optional pam_motd.so" >>"$d/etc/pam.d/sshd"
  configure_h1 --revert >/dev/null
  cmp "$d/etc/ssh/sshd_config" <(cat "$d/etc.orig/ssh/sshd_config"; echo "X11Forwarding no") ||
    fail "revert lost the later edit of sshd_config"
  cmp "$d/etc/pam.d/sshd" <(cat "$d/etc.orig/pam.d/sshd"; echo "session optional pam_motd.so") ||
    fail "revert lost the later edit of pam.d/sshd"
  cmp "$d/etc/nsswitch.conf" "$d/etc.orig/nsswitch.conf" || fail "revert did not restore nsswitch.conf"
  echo "  ok: --revert removed Warden's lines and kept the later edits"
  expect_fail "has not been run" configure_h1 --revert
}

# The site's own RevokedKeys and TrustedUserCAKeys: refused, or kept in force with --merge.
e2e_host_configure_merge() {
  setup
  host_start h1 0 env=prod
  host_grant 10m
  local d=$HOST_DIR_h1
  # Two certificates for the grant; the site revokes the first in its own KRL.
  new_key op2
  wctl alice cert sign --grant "$G" -i "$WARDEN_SANDBOX/op2" >/dev/null
  ssh-keygen -q -k -f "$d/etc/ssh/site.krl" "$WARDEN_SANDBOX/op-cert.pub"
  # The site's CA, for its own root logins.
  ssh-keygen -q -t ed25519 -N '' -C site-ca -f "$d/etc/ssh/site_ca"
  new_key siteroot
  ssh-keygen -q -s "$d/etc/ssh/site_ca" -I site-root -n root -z 1 "$WARDEN_SANDBOX/siteroot.pub"
  printf 'RevokedKeys %s\nTrustedUserCAKeys %s\n' "$d/etc/ssh/site.krl" "$d/etc/ssh/site_ca.pub" \
    >>"$d/etc/ssh/sshd_config"
  cp "$d/etc/ssh/sshd_config" "$d/sshd_config.site"
  local line
  line=$(grep -n "^RevokedKeys $d/etc/ssh/site.krl" "$d/etc/ssh/sshd_config" | cut -d: -f1)
  expect_fail "$d/etc/ssh/sshd_config:$line: \"RevokedKeys $d/etc/ssh/site.krl\"" configure_h1
  cmp "$d/etc/ssh/sshd_config" "$d/sshd_config.site" || fail "a refused configure-host changed sshd_config"

  expect_out "merged the site's revoked keys $d/etc/ssh/site.krl" configure_h1 --merge
  # With the site's CA trusted too, the principals command (which sees the CA) decides.
  expect_out "AuthorizedPrincipalsCommand $d/bin/warden-principals --config $d/host.yaml --ca-key %K %u" cat "$d/etc/ssh/sshd_config"
  host_sshd_restart h1
  expect_fail "Permission denied" ssh_as h1 op "$LOGIN" true
  expect_out "$LOGIN" ssh_as h1 op2 "$LOGIN" id -un
  echo "  ok: the certificate the site revoked stays out, the other logs in"
  # The site's CA still logs root in, and cannot stand in for the Warden account.
  expect_out "root" ssh_as h1 siteroot root id -un
  new_key sitefake
  ssh-keygen -q -s "$d/etc/ssh/site_ca" -I fake -n "$LOGIN" -z 2 "$WARDEN_SANDBOX/sitefake.pub"
  expect_fail "Permission denied" ssh_as h1 sitefake "$LOGIN" true
  echo "  ok: a certificate of the site's CA reaches root, never $LOGIN"
  # A revocation the site adds later takes effect without configure-host.
  ssh-keygen -q -k -u -f "$d/etc/ssh/site.krl" "$WARDEN_SANDBOX/op2-cert.pub"
  login_refused() { ! ssh_as h1 op2 "$LOGIN" true; }
  wait_for 15 login_refused || fail "the site's new revocation is not in force"
  echo "  ok: the site's later revocation is in force"
}

# Removing the package: prerm and postrm (from packaging/) against h1's copies of /etc, while
# the module and wardend disappear in between as dpkg removes the files. Root still logs in.
e2e_host_package_remove() {
  setup
  host_start h1 0 env=prod
  local d=$HOST_DIR_h1 f
  # pam.d names a copy of the module that goes away with the "package".
  cp "$WARDEN_BIN/pam_module/pam_warden.so" "$d/lib/pam_warden.so"
  "$d/bin/wardend" --config "$d/host.yaml" configure-host --etc "$d/etc" \
    --principals-command "$d/bin/warden-principals" --pam-module "$d/lib/pam_warden.so" >/dev/null
  host_sshd_restart h1
  expect_out "root" ssh_as h1 root-h1 root id -un
  mkdir -p "$d/etc/warden"
  cp "$d/host.yaml" "$d/etc/warden/host.yaml"
  WARDEN_ETC=$d/etc WARDEND=$d/bin/wardend sh "$here/../../packaging/warden-host/prerm" remove ||
    fail "prerm remove failed"
  wardend_stop h1
  rm "$d/lib/pam_warden.so" "$d/bin/wardend" "$d/bin/warden-principals"
  WARDEN_ETC=$d/etc sh "$here/../../packaging/warden-host/postrm" remove || fail "postrm remove failed"
  for f in ssh/sshd_config pam.d/sshd nsswitch.conf; do
    if grep -nE -e '# (BEGIN|END) warden' -e 'pam_warden|warden-principals|files warden' -e "$d/state" \
      "$d/etc/$f"; then fail "$f still names Warden after removal"; fi
  done
  echo "  ok: sshd_config, pam.d/sshd and nsswitch.conf name Warden no more"
  host_sshd_restart h1
  expect_out "root" ssh_as h1 root-h1 root id -un
  # Whatever prerm could not take out (no wardend to run), postrm does, keeping the site's lines.
  printf '# BEGIN warden: x\naccount requisite %s\n' "$d/lib/pam_warden.so" >"$d/etc/pam.d/sshd.new"
  cat "$d/etc/pam.d/sshd" >>"$d/etc/pam.d/sshd.new"
  mv "$d/etc/pam.d/sshd.new" "$d/etc/pam.d/sshd"
  WARDEN_ETC=$d/etc sh "$here/../../packaging/warden-host/postrm" remove >/dev/null
  cmp "$d/etc/pam.d/sshd" "$d/etc.orig/pam.d/sshd" || fail "postrm did not leave the site's pam.d/sshd"
  echo "  ok: postrm removes a block that lost its END line, and only Warden's lines"
}

# --- session recording: wardend's BPF capture -> controller -> wardenctl ----------------------

# ssh_line: the ssh command line of $LOGIN (key "op") to h1 with a pty.
ssh_line() {
  echo "ssh -tt -i $WARDEN_SANDBOX/op -o CertificateFile=$WARDEN_SANDBOX/op-cert.pub" \
    "-o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null" \
    "-o LogLevel=ERROR -p $SSHD_PORT_h1 $LOGIN@127.0.0.1"
}

pane_has() { tm capture-pane -p -t "$1" | grep -qF -- "$2"; }

# tmux_ssh NAME: an interactive login of $LOGIN on h1 in a 100x30 terminal; everything the client
# receives is also kept in $WARDEN_SANDBOX/NAME.client.
tmux_ssh() {
  tm new-session -d -s "$1" -x 100 -y 30 \
    "$(ssh_line) | tee $WARDEN_SANDBOX/$1.client; sleep 600"
  wait_for 10 pane_has "$1" "$LOGIN@" || fail "no shell prompt in $1: $(tm capture-pane -p -t "$1")"
}

# type_line NAME TEXT SHOWN: types TEXT and Enter, waits until SHOWN is on the screen.
type_line() {
  tm send-keys -t "$1" "$2" Enter
  wait_for 10 pane_has "$1" "$3" || fail "\"$3\" not shown after typing \"$2\": $(tm capture-pane -p -t "$1")"
}

# sealed_session: waits until the only recorded session is sealed; prints its id.
sealed_session() {
  local i
  for i in $(seq 100); do
    if wctl admin --json sessions | python3 -c 'import json,sys
s=json.load(sys.stdin); sys.exit(0 if s and s[-1]["sealed"] else 1)'; then
      wctl admin --json sessions | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])'
      return 0
    fi
    sleep 0.1
  done
  fail "no sealed recording: $(wctl admin sessions)"
}

e2e_recording_session() {
  setup
  host_start h1 0 env=prod
  host_grant 10m
  touch "$WARDEN_SANDBOX/before"
  tmux_ssh rec
  type_line rec 'echo token-$((123456*1000+789))' 'token-123456789'
  type_line rec 'read -s -p "pw: " P; echo; echo got-${#P}' 'pw:'
  tm send-keys -t rec 'hunter2-secret' Enter
  wait_for 10 pane_has rec 'got-14' || fail "read -s did not finish"
  type_line rec 'printf "caf\303\251 %s\n" ok' 'café ok'
  type_line rec 'ls -d /etc/ssh' '/etc/ssh'
  # The operator's window grows: ssh sends window-change, sshd sets the pty's size.
  tm resize-window -t rec -x 120 -y 40
  type_line rec 'stty size' '40 120'
  # A full-screen program (alternate screen, cursor addressing) replays byte for byte too.
  type_line rec 'top -d 0.2 -n 3; echo top-$((40+2))' 'top-42'
  # A pause: what came before goes up as its own chunk.
  type_line rec 'sleep 0.5; echo slept' 'slept'
  type_line rec exit 'logout'
  local sid
  sid=$(sealed_session)
  echo "  ok: session $sid recorded and sealed"
  # Byte for byte what the client received.
  wctl admin recordings export "$sid" --format raw -o "$WARDEN_SANDBOX/rec.raw"
  cmp "$WARDEN_SANDBOX/rec.raw" "$WARDEN_SANDBOX/rec.client" ||
    fail "the replay differs from what the client saw"
  echo "  ok: replay is byte-identical to the client's stream ($(wc -c <"$WARDEN_SANDBOX/rec.raw") bytes)"
  wctl admin recordings export "$sid" --format text >"$WARDEN_SANDBOX/rec.txt"
  wctl admin recordings export "$sid" -o "$WARDEN_SANDBOX/rec.cast"
  expect_out "token-123456789" cat "$WARDEN_SANDBOX/rec.txt"
  expect_out '$ echo token-$((123456*1000+789))' cat "$WARDEN_SANDBOX/rec.txt"
  expect_out "café ok" cat "$WARDEN_SANDBOX/rec.txt"
  expect_out '"i","echo token-$((123456*1000+789))\r"' cat "$WARDEN_SANDBOX/rec.cast"
  expect_out '"m","input redacted (15 bytes)"' cat "$WARDEN_SANDBOX/rec.cast"
  expect_out '"r","120x40"' cat "$WARDEN_SANDBOX/rec.cast"
  expect_out '"width":100' head -1 "$WARDEN_SANDBOX/rec.cast"
  python3 -c 'import json,sys
lines=open(sys.argv[1]).read().splitlines()
h=json.loads(lines[0]); assert h["version"]==2 and h["height"]==30, h
for l in lines[1:]:
    t,code,data=json.loads(l); assert code in "oimr", l' "$WARDEN_SANDBOX/rec.cast" || fail "not asciicast v2"
  echo "  ok: asciicast v2"
  grep -q hunter2 "$WARDEN_SANDBOX/rec.raw" "$WARDEN_SANDBOX/rec.cast" "$WARDEN_SANDBOX/rec.txt" &&
    fail "the password typed at read -s is in the recording"
  echo "  ok: the password typed at read -s is not in the recording"
  expect_out "ls -d /etc/ssh" wctl admin recordings export "$sid" --format commands
  expect_out "$sid" wctl admin sessions --command "ls -d /etc/ssh" --user "$LOGIN"
  expect_out "no recorded sessions match" wctl admin sessions --command "rm -rf"
  expect_fail "may not view recordings" wctl alice sessions
  expect_out "[wardenctl: end of $sid]" wctl admin play "$sid" --speed 50 --max-idle 0.01
  expect_out "OK: intact: " wctl admin recordings verify "$sid"
  # Never on the host's disk: no file written during the session holds what the screen showed
  # (the controller's store and the client's copy live in the sandbox, "off-host").
  local written
  written=$(find / /run -xdev -type f -newer "$WARDEN_SANDBOX/before" -not -path "$WARDEN_SANDBOX/*" \
    -not -path '/proc/*' -not -path '/sys/*' -print0 2>/dev/null |
    xargs -0 -r grep -l 'token-123456789' 2>/dev/null || true)
  [ -z "$written" ] || fail "the session's output was written on the host: $written"
  echo "  ok: nothing the session showed was written to the host's disk"
  # Tampering with a stored chunk is found: chunk 2 is replaced by (the valid) chunk 1.
  python3 -c 'import sqlite3,sys
db=sqlite3.connect(sys.argv[1])
db.execute("UPDATE recording_chunks SET data=(SELECT data FROM recording_chunks WHERE seq=1) WHERE seq=2")
db.commit()' \
    "$WARDEN_SANDBOX/controller/warden.db"
  expect_fail "chunk 2 was altered" wctl admin recordings verify "$sid"
}

e2e_recording_controller_restart() {
  setup
  host_start h1 0 env=prod
  host_grant 10m
  tmux_ssh rec
  type_line rec 'echo before-$((1+1))' 'before-2'
  kill -KILL "$CONTROLLER_PID"
  wait "$CONTROLLER_PID" 2>/dev/null || true
  echo "  controller killed mid-session"
  type_line rec 'for i in $(seq 1 2000); do echo while-down-$i; done' 'while-down-2000'
  wait_for 10 grep -q "unacknowledged, kept in memory" "$HOST_DIR_h1/wardend.log" ||
    fail "wardend did not notice the controller was gone"
  controller_start
  type_line rec 'echo after-$((2+2))' 'after-4'
  type_line rec exit 'logout'
  local sid
  sid=$(sealed_session)
  wctl admin recordings export "$sid" --format raw -o "$WARDEN_SANDBOX/rec.raw"
  cmp "$WARDEN_SANDBOX/rec.raw" "$WARDEN_SANDBOX/rec.client" ||
    fail "chunks were lost across the controller restart"
  echo "  ok: every byte of the session arrived across the restart"
  expect_out "while-down-1999" wctl admin recordings export "$sid" --format text
  expect_out "OK: intact: " wctl admin recordings verify "$sid"
  wctl admin --json sessions | grep -q '"lost_bytes":0' || fail "loss reported: $(wctl admin sessions)"
}

# An upgrade restarts wardend under a live session: the session is frozen while no wardend
# records it (a counter it prints all along stops, and no number is missing from the replay),
# taken up by the next run, and its recording goes on in sequence to one sealed, intact whole.
# A session that ends while wardend is away has its recording completed by the next run.
e2e_recording_wardend_restart() {
  setup
  host_start h1 0 env=prod
  host_grant 10m
  tmux_ssh rec
  type_line rec 'echo before-$((1+1))' 'before-2'
  tmux_ssh short
  # A process that left the session's process tree (setsid) and runs a program only once the
  # next wardend is up: it is still the session's, and recorded.
  local go
  go=$(mktemp -d /tmp/warden-go.XXXXXX)
  chmod 755 "$go"
  type_line rec "setsid -f sh -c 'while [ ! -e $go/go ]; do sleep 0.1; done; exec /bin/echo escaped-\$((6*7))' >/dev/null; echo started-\$((1+2))" 'started-3'
  tm send-keys -t rec 'i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo tick-$i; sleep 0.02; done; echo loop-$((i*2))' Enter
  wait_for 10 pane_has rec 'tick-20' || fail "the counter does not run"
  wardend_stop h1
  grep -q "handed 2 sessions (frozen: " "$HOST_DIR_h1/wardend.log" ||
    fail "wardend did not hand its sessions over: $(tail -5 "$HOST_DIR_h1/wardend.log")"
  [ -s "$HOST_DIR_h1/recordings.handover" ] || fail "no handover file beside the agent socket"
  local a b
  a=$(tm capture-pane -p -t rec | grep -o 'tick-[0-9]*' | tail -1)
  sleep 1
  b=$(tm capture-pane -p -t rec | grep -o 'tick-[0-9]*' | tail -1)
  [ "$a" = "$b" ] || fail "the session ran on while no wardend recorded it ($a, then $b)"
  echo "  ok: wardend stopped; the session is frozen at $a"
  # The other session's sshd ends while wardend is away (its client is gone).
  tm kill-session -t short
  wardend_start h1
  wait_for 10 grep -qE "took up [12] of 2 sessions handed over" "$HOST_DIR_h1/wardend.log" ||
    fail "wardend did not take the sessions up: $(tail -5 "$HOST_DIR_h1/wardend.log")"
  [ -e "$HOST_DIR_h1/recordings.handover" ] && fail "the handover file was left behind"
  touch "$go/go"
  wait_for 20 pane_has rec 'loop-600' || fail "the session did not go on after the restart"
  type_line rec 'echo after-$((2+2))' 'after-4'
  type_line rec exit 'logout'
  local sid sid_loop="" i
  for i in $(seq 100); do
    [ "$(wctl admin --json sessions | python3 -c 'import json,sys
print(sum(1 for x in json.load(sys.stdin) if x["sealed"]))')" = 2 ] && break
    sleep 0.2
  done
  for sid in $(wctl admin --json sessions | python3 -c 'import json,sys
print(" ".join(x["id"] for x in json.load(sys.stdin) if x["sealed"]))'); do
    expect_out "OK: intact: " wctl admin recordings verify "$sid"
    wctl admin recordings export "$sid" --format text >"$WARDEN_SANDBOX/$sid.txt"
    grep -q "loop-600" "$WARDEN_SANDBOX/$sid.txt" && sid_loop=$sid
  done
  [ "$(wctl admin --json sessions | grep -o '"sealed":true' | wc -l)" = 2 ] ||
    fail "the two recordings are not both sealed: $(wctl admin sessions)"
  echo "  ok: both recordings sealed and intact (the one that ended during the restart too)"
  [ -n "${sid_loop:-}" ] || fail "no recording holds the end of the counter"
  wctl admin recordings export "$sid_loop" --format raw -o "$WARDEN_SANDBOX/rec.raw"
  cmp "$WARDEN_SANDBOX/rec.raw" "$WARDEN_SANDBOX/rec.client" ||
    fail "the replay differs from what the client saw across the restart"
  python3 -c 'import re,sys
t=open(sys.argv[1], "rb").read()
n=[int(x) for x in re.findall(rb"tick-([0-9]+)\r\n", t)]
missing=sorted(set(range(1, 301)) - set(n))
assert not missing and len(n) == 300, (len(n), missing[:10])' "$WARDEN_SANDBOX/rec.raw" ||
    fail "ticks are missing from the replay"
  echo "  ok: every tick 1..300 and every byte the client saw is in the one recording, intact"
  expect_out "/bin/echo escaped-42" wctl admin recordings export "$sid_loop" --format commands
  rm -r "$go"
  echo "  ok: a setsid'd process of the session ran a program after the restart: recorded"
  wctl admin recordings export "$sid_loop" -o "$WARDEN_SANDBOX/rec.cast"
  expect_out '"m","ALERT recorder_restart: wardend restarted: the session was frozen for' \
    cat "$WARDEN_SANDBOX/rec.cast"
  expect_out "recorder_restart" grep recording.alert "$WARDEN_SANDBOX/controller/audit/audit.log"
  echo "  ok: the restart is marked in the recording and the audit log"

  # Killed, not stopped: nothing is handed over, so the next run ends the session nothing records.
  tmux_ssh crash
  type_line crash 'echo shell-$$' 'shell-'
  local shell
  shell=$(tm capture-pane -p -t crash | grep -o 'shell-[0-9]*' | tail -1)
  shell=${shell#shell-}
  kill -0 "$shell" || fail "no shell process $shell"
  kill -KILL "$WARDEND_PID_h1"
  wait "$WARDEND_PID_h1" 2>/dev/null || true
  wardend_start h1
  wait_for 10 grep -q "was left running by a wardend that did not hand it over, and nothing records it: ending it" \
    "$HOST_DIR_h1/wardend.log" || fail "the unrecorded session was not ended: $(tail -5 "$HOST_DIR_h1/wardend.log")"
  wait_for 10 sh -c "! kill -0 $shell 2>/dev/null" || fail "the session's shell $shell still runs"
  echo "  ok: after wardend was killed, the next run ended the session nobody recorded"
}

e2e_recording_flood() {
  setup
  host_start h1 0 env=prod
  # Sent as it is (what a host does when compressing a flood would cost its sessions CPU): the
  # same frames, stored blocks instead of compressed ones; the controller still keeps zstd.
  echo "recording_compression: none" >>"$HOST_DIR_h1/host.yaml"
  wardend_stop h1
  wardend_start h1
  wait_for 10 grep -q "recordings sent uncompressed" "$HOST_DIR_h1/wardend.log" ||
    fail "wardend did not take recording_compression: none"
  host_grant 10m
  # 1 GiB through the pty as fast as sshd can move it (the ASan preset sends less: the same code
  # paths, at a tenth of the speed).
  $(ssh_line) "head -c ${WARDEN_E2E_FLOOD_BYTES:-1073741824} /dev/zero" </dev/null >"$WARDEN_SANDBOX/flood.client"
  local sid got lost
  sid=$(sealed_session)
  got=$(wctl admin recordings export "$sid" --format raw | wc -c)
  lost=$(wctl admin --json sessions | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["lost_bytes"])')
  echo "  client received $(wc -c <"$WARDEN_SANDBOX/flood.client") bytes; recorded $got, lost $lost"
  [ $((got + lost)) -eq "$(wc -c <"$WARDEN_SANDBOX/flood.client")" ] ||
    fail "recorded ($got) + lost ($lost) != received"
  echo "  ok: loss accounted exactly"
  expect_out "OK: intact: " wctl admin recordings verify "$sid"
}

e2e_recording_strict() {
  setup
  host_start h1 0 env=prod
  # A small buffer, so that a session outruns it while the controller is away.
  echo "recording_buffer_mb: 1" >>"$HOST_DIR_h1/host.yaml"
  wardend_stop h1
  wardend_start h1
  host_grant 10m
  watch_up() { [ "$(grep -c "connected to" "$HOST_DIR_h1/wardend.log")" -ge "$1" ]; }
  wait_for 10 watch_up 1 || fail "wardend is not connected"
  # tier0-linux-admin has recording: {mode: strict}. With the controller away its logins are
  # refused, with the reason in wardend's log; the break-glass account still gets in.
  controller_stop
  expect_fail "" ssh_as h1 op "$LOGIN" true
  expect_out "the controller is unreachable, and this role's sessions are recorded off-host or not at all" \
    cat "$HOST_DIR_h1/wardend.log"
  expect_out "break-glass-ok" ssh_as h1 "root-h1" root 'echo break-glass-ok'
  local before
  before=$(grep -c "connected to" "$HOST_DIR_h1/wardend.log")
  controller_start
  wait_for 15 watch_up $((before + 1)) || fail "wardend did not reconnect"
  tmux_ssh strict
  type_line strict 'echo in-$((3*3))' 'in-9'
  # The controller dies mid-session and the session outruns the host's buffer: it is ended, with
  # a message on the operator's terminal.
  kill -KILL "$CONTROLLER_PID"
  wait "$CONTROLLER_PID" 2>/dev/null || true
  tm send-keys -t strict 'head -c 3000000 /dev/urandom | base64' Enter
  wait_for 30 pane_has strict "Warden: this session is being ended" ||
    fail "no message on the terminal: $(tm capture-pane -p -t strict | tail -5)"
  ssh_gone() { ! pgrep -f "^ssh -tt .*$LOGIN@127.0.0.1" >/dev/null; }
  wait_for 15 ssh_gone || fail "the session was not ended"
  echo "  ok: the session was ended with a message on its terminal"
  expect_out "ended: recording undeliverable (strict)" cat "$HOST_DIR_h1/wardend.log"
  # Back: everything captured until the end arrives, sealed, and verifies.
  controller_start
  local sid
  sid=$(sealed_session)
  expect_out "Warden: this session is being ended" wctl admin recordings export "$sid" --format text
  expect_out "OK: intact: " wctl admin recordings verify "$sid"
}

e2e_recording_join() {
  setup
  host_start h1 0 env=prod
  host_grant 10m
  tmux_ssh live
  type_line live 'echo first-$((2*21))' 'first-42'
  live_session() { wctl admin --json sessions | python3 -c 'import json,sys
s=[x for x in json.load(sys.stdin) if x["ended_ns"]==0]; print(s[0]["id"]) if s else sys.exit(1)'; }
  wait_for 10 live_session || fail "the live session is not listed"
  local sid joiner
  sid=$(live_session)
  wctl admin join "$sid" >"$WARDEN_SANDBOX/join.out" 2>&1 &
  joiner=$!
  wait_for 10 grep -q "first-42" "$WARDEN_SANDBOX/join.out" || fail "join did not show the session so far"
  echo "  ok: join shows what the screen showed so far"
  type_line live 'echo second-$((3*33))' 'second-99'
  wait_for 10 grep -q "second-99" "$WARDEN_SANDBOX/join.out" || fail "join does not follow the session"
  kill -0 "$joiner" 2>/dev/null || fail "join ended while the session is open"
  echo "  ok: join follows the session as it happens"
  type_line live exit 'logout'
  wait_for 10 grep -q "the session has ended" "$WARDEN_SANDBOX/join.out" || fail "join did not see the end"
  wait "$joiner" || fail "join exited with an error: $(tail -2 "$WARDEN_SANDBOX/join.out")"
  echo "  ok: join ends with the session"
  expect_fail "may not view recordings" wctl alice join "$sid"
  expect_out '"follow":true' grep "RecordingService.GetRecording" "$WARDEN_SANDBOX/controller/audit/audit.log"
}

# live_sessions USER: ids of the live sessions USER can see, with MODERATORS/REQUIRED.
live_sessions() {
  wctl "$1" --json sessions | python3 -c 'import json,sys
for x in json.load(sys.stdin):
    if x["ended_ns"] == 0: print(x["id"], "%d/%d" % (x["moderators"], x["moderators_required"]))'
}

e2e_recording_moderated() {
  setup
  host_start h1 0 env=prod
  ROLE=tier0-moderated-admin host_grant 10m
  # tier0-moderated-admin requires one moderator from the approvers: the login is held.
  tm new-session -d -s held -x 100 -y 30 "$(ssh_line); sleep 600"
  held() { live_sessions bob | grep -q " 0/1$"; }
  wait_for 10 held || fail "no session waiting for a moderator: $(wctl bob sessions 2>&1)"
  local sid
  sid=$(live_sessions bob | cut -d' ' -f1)
  expect_out "WAITING FOR MODERATORS 0/1" wctl bob sessions
  sleep 2
  pane_has held "$LOGIN@" && fail "the shell started without a moderator"
  # sshd keeps what PAM says at session open (pam_warden's HOLD message) until the shell starts.
  pane_has held "Warden:" && fail "the held login showed a message: $(tm capture-pane -p -t held)"
  echo "  ok: the login waits for a moderator, its terminal still blank"
  # alice moderates nothing: refused before the session is even looked up.
  expect_fail "alice may not moderate sessions" wctl alice join "$sid" --mode moderator
  expect_fail "admin may not moderate sessions of role tier0-moderated-admin" \
    wctl admin join "$sid" --mode moderator
  # bob joins as a moderator: the login proceeds, and he sees the session.
  tm new-session -d -s mod -x 100 -y 30 \
    "$WARDENCTL --home $WARDEN_SANDBOX/home-bob join $sid --mode moderator; sleep 600"
  wait_for 15 pane_has held "$LOGIN@" || fail "the login did not proceed: $(tm capture-pane -p -t held)"
  pane_has held "Warden: session $sid starts once 1 moderator of its role watch it" ||
    fail "the started session does not show why it waited: $(tm capture-pane -p -t held)"
  echo "  ok: a moderator joined and the login proceeded, showing why it waited"
  expect_out " 1/1" live_sessions bob
  type_line held 'echo watched-$((6*7))' 'watched-42'
  wait_for 10 pane_has mod "watched-42" || fail "the moderator does not see the session"
  echo "  ok: the moderator watches the session live"
  # bob leaves (q): with on_leave terminate, the session is ended with a message.
  tm send-keys -t mod q
  wait_for 15 pane_has held "its moderator left" ||
    fail "no message on the operator's terminal: $(tm capture-pane -p -t held | tail -5)"
  ssh_gone() { ! pgrep -f "^ssh -tt .*$LOGIN@127.0.0.1" >/dev/null; }
  wait_for 15 ssh_gone || fail "the session was not ended"
  echo "  ok: the moderator left and the session was ended"
  expect_out "ended: its moderators left" cat "$HOST_DIR_h1/wardend.log"
  # A second session, once the first is over everywhere: the moderator ends it with t (terminate).
  tm kill-session -t mod
  none_live() { [ -z "$(live_sessions admin)" ]; }
  wait_for 15 none_live || fail "the first session is still live: $(wctl admin sessions)"
  tm new-session -d -s held2 -x 100 -y 30 "$(ssh_line); sleep 600"
  wait_for 10 held || fail "the second session is not waiting"
  sid=$(live_sessions bob | cut -d' ' -f1)
  tm new-session -d -s mod2 -x 100 -y 30 \
    "$WARDENCTL --home $WARDEN_SANDBOX/home-carol join $sid --mode moderator; sleep 600"
  wait_for 15 pane_has held2 "$LOGIN@" || fail "the second login did not proceed"
  tm send-keys -t mod2 t
  wait_for 15 pane_has held2 "moderator carol ended this session" ||
    fail "no message on the operator's terminal: $(tm capture-pane -p -t held2 | tail -5)"
  wait_for 15 ssh_gone || fail "the terminated session was not ended"
  wait_for 10 pane_has mod2 "the session has ended" || fail "the moderator did not see the end"
  echo "  ok: a moderator ended the session"
  expect_out '"event":"session.moderator_joined"' cat "$WARDEN_SANDBOX/controller/audit/audit.log"
  expect_out '"RecordingService.TerminateSession"' cat "$WARDEN_SANDBOX/controller/audit/audit.log"
}

# session_ids: ids of the recorded sessions, oldest first.
session_ids() {
  wctl admin --json sessions | python3 -c 'import json,sys
for x in json.load(sys.stdin): print(x["id"])'
}

e2e_recording_multiplexed() {
  setup
  host_start h1 0 env=prod
  host_grant 10m
  local sock=$WARDEN_SANDBOX/mux.sock sid
  # The first shell is the master of an OpenSSH connection; the second is a channel multiplexed
  # over it (ssh -S): one sshd, one PAM session, a second pty.
  tm new-session -d -s mux1 -x 100 -y 30 "$(ssh_line | sed "s|^ssh -tt|ssh -tt -M -S $sock|"); sleep 600"
  wait_for 10 pane_has mux1 "$LOGIN@" || fail "no shell prompt: $(tm capture-pane -p -t mux1)"
  type_line mux1 'echo first-$((20+1))' 'first-21'
  tm new-session -d -s mux2 -x 90 -y 25 \
    "ssh -tt -S $sock -o LogLevel=ERROR -p $SSHD_PORT_h1 $LOGIN@127.0.0.1; sleep 600"
  wait_for 10 pane_has mux2 "$LOGIN@" || fail "no second shell: $(tm capture-pane -p -t mux2)"
  [ "$(session_ids | wc -l)" -eq 1 ] || fail "expected one session: $(wctl admin sessions)"
  echo "  ok: a second shell multiplexed over the same connection"
  type_line mux2 '/bin/echo second-$((6*7))' 'second-42'
  type_line mux2 'read -s -p "pw2: " P; echo; echo got2-${#P}' 'pw2:'
  tm send-keys -t mux2 'hunter3' Enter
  wait_for 10 pane_has mux2 'got2-7' || fail "read -s did not finish"
  # A moderator's terminate reaches every shell of the connection.
  sid=$(session_ids | tail -1)
  wctl admin terminate "$sid" --reason "mux check" >/dev/null
  wait_for 15 pane_has mux1 "ended this session: mux check" ||
    fail "no message on the first terminal: $(tm capture-pane -p -t mux1 | tail -5)"
  wait_for 15 pane_has mux2 "ended this session: mux check" ||
    fail "no message on the second terminal: $(tm capture-pane -p -t mux2 | tail -5)"
  ssh_gone() { ! pgrep -f "^ssh -tt .*$LOGIN@127.0.0.1" >/dev/null; }
  wait_for 15 ssh_gone || fail "the session was not ended"
  echo "  ok: terminate ended both shells, with the message on each"
  sid=$(sealed_session)
  wctl admin recordings export "$sid" --format text >"$WARDEN_SANDBOX/t0.txt"
  wctl admin recordings export "$sid" --terminal 1 --format text >"$WARDEN_SANDBOX/t1.txt"
  wctl admin recordings export "$sid" --terminal 1 -o "$WARDEN_SANDBOX/t1.cast"
  expect_out "first-21" cat "$WARDEN_SANDBOX/t0.txt"
  grep -q "second-42" "$WARDEN_SANDBOX/t0.txt" && fail "terminal 1's screen in terminal 0's"
  expect_out "second-42" cat "$WARDEN_SANDBOX/t1.txt"
  expect_out '"i","/bin/echo second-$((6*7))\r"' cat "$WARDEN_SANDBOX/t1.cast"
  expect_out '"width":90' head -1 "$WARDEN_SANDBOX/t1.cast"
  expect_out '"m","terminal 1: redacted line 1 (7 bytes) read by bash' cat "$WARDEN_SANDBOX/t1.cast"
  grep -q hunter3 "$WARDEN_SANDBOX/t1.cast" "$WARDEN_SANDBOX/t1.txt" &&
    fail "the password typed at read -s on terminal 1 is in the recording"
  expect_out "ended this session: mux check" cat "$WARDEN_SANDBOX/t1.txt"
  expect_out "terminal 1  " wctl admin recordings export "$sid" --format commands
  expect_out "$sid" wctl admin sessions --command "second-42"
  expect_fail "has 2 terminals; --terminal takes 0 to 1" \
    wctl admin recordings export "$sid" --terminal 2
  expect_out "[wardenctl: end of $sid]" wctl admin play "$sid" --terminal 1 --speed 50 --max-idle 0.01
}

# pty_states UID: the state (/proc/PID/stat) of each process of UID that has a terminal, one a line.
pty_states() {
  local pid
  for pid in $(ps -u "$1" -o pid=,tty= | awk '$2 ~ /^pts\// {print $1}'); do
    sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1
  done
}
all_stopped() { local s; s=$(pty_states "$1"); [ -n "$s" ] && ! grep -qv '^T$' <<<"$s"; }
# session_frozen UID: a session cgroup of the account is frozen (cgroup.freeze).
session_frozen() {
  local mount
  mount=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
  find "$mount" -path "*/warden-sessions/u$1-*" -name cgroup.events 2>/dev/null | xargs -r grep -l '^frozen 1' | grep -q .
}
none_stopped() { local s; s=$(pty_states "$1"); [ -n "$s" ] && ! grep -q '^T$' <<<"$s"; }

# quiet_shell NAME: in tmux session NAME, echo off and a shell without line editing (dash):
# nothing typed is echoed, so every line is "a password".
quiet_shell() {
  # (the prompt is quoted apart, so that only dash's prompt matches, not the echoed command)
  type_line "$1" "stty -echo; PS1='quiet''> ' exec /bin/sh" 'quiet>'
}

e2e_recording_redaction_limit() {
  setup
  host_start h1 0 env=prod
  host_grant 10m
  local sid i
  # tier0-linux-admin: recording {input: redact, mode: strict, max_redacted_lines: 3,
  # on_redaction_limit: end}.
  tmux_ssh quiet
  quiet_shell quiet
  for i in 1 2 3; do
    tm send-keys -t quiet "echo line-\$(($i*11))" Enter
    wait_for 10 pane_has quiet "line-$((i * 11))" || fail "line $i: $(tm capture-pane -p -t quiet)"
  done
  pane_has quiet "Warden:" && fail "ended before the limit"
  echo "  ok: three unechoed lines are allowed"
  tm send-keys -t quiet 'echo line-$((4*11))' Enter
  wait_for 15 pane_has quiet "Warden: this session is being ended: more lines were typed" ||
    fail "no message on the terminal: $(tm capture-pane -p -t quiet | tail -5)"
  ssh_gone() { ! pgrep -f "^ssh -tt .*$LOGIN@127.0.0.1" >/dev/null; }
  wait_for 15 ssh_gone || fail "the session was not ended"
  echo "  ok: the fourth ended the session (on_redaction_limit: end), with a message on its terminal"
  expect_out "4 lines typed without echo (redacted) in session" cat "$HOST_DIR_h1/wardend.log"
  sid=$(sealed_session)
  expect_out "FLAGGED: redaction_limit" wctl admin sessions
  wctl admin recordings export "$sid" -o "$WARDEN_SANDBOX/quiet.cast"
  for i in 1 2 3 4; do
    expect_out "\"m\",\"redacted line $i (19 bytes) read by sh (pid " cat "$WARDEN_SANDBOX/quiet.cast"
  done
  expect_out '"m","ALERT redaction_limit: 4 lines typed without echo' cat "$WARDEN_SANDBOX/quiet.cast"
  grep -q 'echo line-' "$WARDEN_SANDBOX/quiet.cast" && fail "the unechoed lines' text was recorded"
  expect_out '"event":"recording.alert"' cat "$WARDEN_SANDBOX/controller/audit/audit.log"
}

e2e_recording_redaction_hold() {
  controller_init
  # A role whose sessions are held for a moderator at their second unechoed line. It has no
  # require_moderator: its approvers (bob, carol) moderate a held session.
  sed -i '/^roles:$/r /dev/stdin' "$WARDEN_SANDBOX/controller/policy.yaml" <<'ROLE'
  tier0-hold-admin:
    tier: 0
    login: "hold-{{user}}"
    max_ttl: 2h
    requesters: [operators]
    approvals: {count: 2, groups: [approvers]}
    extensions: {allowed: [permit-pty], default: [permit-pty]}
    critical_options: {source-address: "127.0.0.0/8,::1/128"}
    recording: {mode: strict, max_redacted_lines: 1, on_redaction_limit: hold, hold_wait: 20s}
ROLE
  controller_start
  for u in alice bob carol admin; do login "$u" >/dev/null; done
  host_start h1 0 env=prod
  ROLE=tier0-hold-admin host_grant 10m
  local sid
  tmux_ssh quiet
  quiet_shell quiet
  # The one line allowed starts the attacker's way out of a pause: a detached loop, on no
  # terminal, that sends SIGCONT to every process of the account and leaves a mark each round.
  local beats="/tmp/warden-e2e-beats-$ACCOUNT_UID"
  rm -f "$beats"
  tm send-keys -t quiet "setsid sh -c 'while :; do kill -CONT -1; echo b >>$beats; sleep 0.1; done' </dev/null >/dev/null 2>&1 & echo line-\$((1*11))" Enter
  wait_for 10 pane_has quiet "line-11" || fail "line 1: $(tm capture-pane -p -t quiet)"
  pane_has quiet "Warden:" && fail "held before the limit"
  wait_for 5 test -s "$beats" || fail "the SIGCONT loop did not start"
  echo "  ok: one unechoed line is allowed"
  tm send-keys -t quiet 'echo line-$((2*11))' Enter
  wait_for 15 pane_has quiet "Warden: this session is paused: more lines were typed without echo" ||
    fail "no message on the terminal: $(tm capture-pane -p -t quiet | tail -5)"
  wait_for 5 session_frozen "$ACCOUNT_UID" || fail "the session's cgroup is not frozen"
  local before
  before=$(wc -l <"$beats")
  sleep 1
  [ "$(wc -l <"$beats")" = "$before" ] || fail "the detached SIGCONT loop still runs while the session is held"
  echo "  ok: the second held the session: its cgroup is frozen (a detached SIGCONT loop in it stands still), the operator is told why"
  # Typed while held: nothing runs it until a moderator watches.
  tm send-keys -t quiet 'echo typed-while-held-$((3*11))' Enter
  sleep 1
  pane_has quiet "typed-while-held-33" && fail "a command ran while the session was held"
  expect_out "holding it for a moderator" cat "$HOST_DIR_h1/wardend.log"
  held() { live_sessions bob | grep -q " 0/1$"; }
  wait_for 10 held || fail "bob sees no session waiting for a moderator: $(wctl bob sessions 2>&1)"
  sid=$(live_sessions bob | cut -d' ' -f1)
  expect_out "FLAGGED: redaction_limit" wctl admin sessions
  expect_out "WAITING FOR MODERATORS 0/1" wctl bob sessions
  expect_fail "alice may not moderate" wctl alice join "$sid" --mode moderator
  # bob, an approver of the role, watches as a moderator: the session resumes.
  tm new-session -d -s mod -x 100 -y 30 \
    "$WARDENCTL --home $WARDEN_SANDBOX/home-bob join $sid --mode moderator; sleep 600"
  wait_for 15 pane_has quiet "the session resumes" ||
    fail "the session did not resume: $(tm capture-pane -p -t quiet | tail -5)"
  wait_for 5 none_stopped "$ACCOUNT_UID" ||
    fail "processes still stopped: $(ps -u "$ACCOUNT_UID" -o pid,stat,tty,args)"
  session_frozen "$ACCOUNT_UID" && fail "the session's cgroup is still frozen"
  wait_for 10 pane_has quiet "typed-while-held-33" || fail "the command typed while held did not run"
  tm send-keys -t quiet 'echo after-$((4*11))' Enter
  wait_for 10 pane_has quiet "after-44" || fail "the resumed session does not run commands"
  wait_for 10 pane_has mod "after-44" || fail "the moderator does not see the session"
  echo "  ok: a moderator joined: the session runs again, under the moderator's eyes"
  expect_out " 1/1" live_sessions bob
  expect_out "resumed: held at its redaction limit, now watched by 1 moderator" cat "$HOST_DIR_h1/wardend.log"
  tm send-keys -t quiet 'exit' Enter
  ssh_gone() { ! pgrep -f "^ssh -tt .*$LOGIN@127.0.0.1" >/dev/null; }
  wait_for 15 ssh_gone || fail "the first session did not end"
  wait_for 10 pane_has mod "the session has ended" || fail "the moderator did not see the end"
  sid=$(sealed_session)
  wctl admin recordings export "$sid" -o "$WARDEN_SANDBOX/hold.cast"
  expect_out '"m","ALERT redaction_limit: 2 lines typed without echo' cat "$WARDEN_SANDBOX/hold.cast"
  expect_out '"event":"recording.alert"' cat "$WARDEN_SANDBOX/controller/audit/audit.log"
  expect_out '"event":"session.moderator_joined"' cat "$WARDEN_SANDBOX/controller/audit/audit.log"

  # A second session: held, and nobody joins within hold_wait (20 s): it is ended.
  tm kill-session -t mod
  tmux_ssh quiet2
  quiet_shell quiet2
  tm send-keys -t quiet2 'echo one' Enter
  tm send-keys -t quiet2 'echo two' Enter
  wait_for 15 pane_has quiet2 "Warden: this session is paused" ||
    fail "the second session was not held: $(tm capture-pane -p -t quiet2 | tail -5)"
  wait_for 5 session_frozen "$ACCOUNT_UID" || fail "the second session's cgroup is not frozen"
  wait_for 40 pane_has quiet2 "none joined within 20 s" ||
    fail "the held session was not ended: $(tm capture-pane -p -t quiet2 | tail -5)"
  wait_for 15 ssh_gone || fail "the second session was not ended"
  echo "  ok: nobody joined within hold_wait: the session was ended, with the reason on its terminal"
  expect_out "ended: held at its redaction limit, and no moderator joined within 20 s" \
    cat "$HOST_DIR_h1/wardend.log"
}

# --- the vault: wardenctl against a running controller --------------------------------------

share() { sed -n "${1}p" "$WARDEN_SANDBOX/shares"; }


e2e_db_creds() {
  pg_start
  trap 'pg_down 2>/dev/null || true; rm -rf "$PG_DIR"; tm kill-server 2>/dev/null || true; sandbox_cleanup
[ "$SANDBOX_HUNG" -eq 0 ] || { echo "FAIL: $SANDBOX_HUNG process(es) ignored SIGTERM" >&2; exit 1; }' EXIT
  controller_init
  # The example policy's appdb connection, pointed at this test's PostgreSQL.
  sed -i "s/^      port: 5432\$/      port: $PG_PORT/" "$WARDEN_SANDBOX/controller/policy.yaml"
  grep -q "port: $PG_PORT\$" "$WARDEN_SANDBOX/controller/policy.yaml" || fail "the example policy has no appdb port"
  controller_start
  for u in alice bob carol admin; do login "$u" >/dev/null; done
  echo -n "adminpw-$PG_PORT" | wctl admin vault put db/appdb/admin >/dev/null
  # alice gets a role of her own; she logs in with it; bob (not a requester) gets nothing.
  wctl alice --json db creds readonly --ttl 10m >"$WARDEN_SANDBOX/creds.json"
  local user pass lease
  user=$(json_field username <"$WARDEN_SANDBOX/creds.json")
  pass=$(json_field password <"$WARDEN_SANDBOX/creds.json")
  lease=$(json_field id <"$WARDEN_SANDBOX/creds.json")
  [[ "$user" == w_readonly_alice_* ]] || fail "unexpected username $user"
  expect_out "$user" pg_login "$user" "$pass"
  expect_fail "password authentication failed" pg_login "$user" wrong
  expect_fail "bob may not ask for database role readonly" wctl bob db creds readonly
  expect_out "$lease" wctl alice lease list
  expect_out "No live leases" wctl bob lease list
  pg_sql "CREATE ROLE w_readonly_by_hand" >/dev/null
  expect_out "w_readonly_by_hand" wctl admin db orphans appdb
  # A session alice keeps open with it ends with the lease.
  PGPASSWORD=$pass setsid psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U "$user" -d postgres \
    -c 'SELECT pg_sleep(60)' >/dev/null 2>&1 &
  local open_session=$!
  SANDBOX_PIDS+=("$open_session")
  sessions() { [ "$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = '$user'")" = 1 ]; }
  wait_for 10 sessions || fail "alice's session did not start"
  expect_out "Revoked 1 lease" wctl alice lease revoke "$lease"
  [ "$(pg_roles "$user")" = 0 ] || fail "the role outlived its revoked lease"
  ended() { ! kill -0 "$open_session" 2>/dev/null; }
  wait_for 10 ended || fail "a session of the revoked role is still open"
  echo "  ok: the open session of the revoked role was ended"
  expect_fail "password authentication failed" pg_login "$user" "$pass"
  echo "  ok: the role is gone with its lease"
  # A lease that runs out while the controller is down: its role goes when it is back.
  user=$(wctl alice --json db creds readonly --ttl 2s | json_field username)
  [ "$(pg_roles "$user")" = 1 ] || fail "no role $user"
  kill -KILL "$CONTROLLER_PID"
  wait "$CONTROLLER_PID" 2>/dev/null || true
  sleep 3
  controller_start
  role_gone() { [ "$(pg_roles "$1")" = 0 ]; }
  wait_for 10 role_gone "$user" || fail "the role outlived a lease that ended while the controller was down"
  echo "  ok: expired while the controller was down, dropped at its start"
  # The database is down when the lease ends: alerted, shown, retried, and dropped once it is back.
  user=$(wctl alice --json db creds readonly --ttl 2s | json_field username)
  pg_down
  local log=$WARDEN_SANDBOX/controller/audit/audit.log
  wait_for 15 grep -q '"event":"db.revoke_failed"' "$log" || fail "no alert for a failed revocation"
  expect_out '"alert":true' grep '"event":"db.revoke_failed"' "$log"
  expect_out "NOT DROPPED" wctl admin lease list
  pg_up
  wait_for 20 role_gone "$user" || fail "the role was not dropped once the database was back"
  expect_out "No live leases" wctl admin lease list
  echo "  ok: a failed revocation was alerted and retried until the role was gone"
  expect_out '"event":"db.issue"' cat "$log"
  grep -qF "$pass" "$log" "$WARDEN_SANDBOX/controller.log" && fail "a password is in a log"
  echo "  ok: no password in the audit log or the controller's log"
}


# Rotation and reconciliation (docs/rotation.md) of a PostgreSQL role and of the connection's
# own admin, with a break paged to a webhook and syslog.
e2e_rotation() {
  pg_start
  trap 'pg_down 2>/dev/null || true; rm -rf "$PG_DIR"; tm kill-server 2>/dev/null || true; sandbox_cleanup
[ "$SANDBOX_HUNG" -eq 0 ] || { echo "FAIL: $SANDBOX_HUNG process(es) ignored SIGTERM" >&2; exit 1; }' EXIT
  pg_sql "CREATE ROLE reporting LOGIN PASSWORD 'initial-pw'" >/dev/null
  controller_init
  local policy=$WARDEN_SANDBOX/controller/policy.yaml
  # Warden's connection is TLS, verified against the server's own certificate; a second
  # connection to the same server that trusts only the system's CAs sends no password.
  sed -i -e "s/^      port: 5432\$/      port: $PG_PORT\n      sslmode: verify-full\n      ca_file: ${PG_DIR//\//\\/}\/server.crt/" \
    -e "s/^  connections:\$/  connections:\n    untrusted: {host: 127.0.0.1, port: $PG_PORT, sslmode: verify-full, admin_user: untrusted_admin, admin_password: db\/untrusted\/admin}/" \
    "$policy"
  printf 'rotation:\n  targets:\n    "db/appdb/reporting": {kind: postgres, connection: appdb, user: reporting}\n' >>"$policy"
  alert_receivers
  controller_start
  for u in alice admin; do login "$u" >/dev/null; done
  echo -n "adminpw-$PG_PORT" | wctl admin vault put db/appdb/admin >/dev/null
  echo -n "initial-pw" | wctl admin vault put db/appdb/reporting >/dev/null

  expect_out "vaulted as version 2" wctl admin vault rotate db/appdb/reporting
  local pw
  pw=$(wctl admin --json vault get db/appdb/reporting | json_field value)
  expect_out reporting pg_login reporting "$pw"
  expect_fail "password authentication failed" pg_login reporting initial-pw
  expect_fail "alice may not rotate db/appdb/reporting" wctl alice vault rotate db/appdb/reporting
  expect_out "ok  db/appdb/reporting" wctl admin reconcile db/appdb/
  echo "  ok: rotated on the database, old refused, new vaulted and logging in"
  [ "$(pg_sql "SELECT count(*) FILTER (WHERE ssl) > 0 AND count(*) FILTER (WHERE NOT ssl) = 0 FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE application_name = 'warden-controller'")" = t ] ||
    fail "Warden's connections to PostgreSQL are not all TLS"
  echo -n "adminpw-$PG_PORT" | wctl admin vault put db/untrusted/admin >/dev/null
  expect_fail "certificate verify failed" wctl admin db rotate-root untrusted
  echo "  ok: Warden talks to PostgreSQL over verified TLS; a server it cannot verify gets no password"

  # Changed behind Warden's back: a break, paged, a non-zero exit, and no rotation over it.
  pg_sql "ALTER ROLE reporting PASSWORD 'intruder-pw'" >/dev/null
  expect_fail "1 reconcile break(s)" wctl admin reconcile
  wait_for 10 grep -q '"event":"vault.reconcile_break"' "$WARDEN_SANDBOX/webhook.log" ||
    fail "the webhook got no reconcile break"
  expect_out '"severity":"critical"' grep vault.reconcile_break "$WARDEN_SANDBOX/webhook.log"
  expect_out '"path":"db/appdb/reporting"' grep vault.reconcile_break "$WARDEN_SANDBOX/webhook.log"
  wait_for 10 grep -q 'vault.reconcile_break' "$WARDEN_SANDBOX/syslog.log" || fail "syslog got no break"
  # authpriv.crit, RFC 5424.
  expect_out '<82>1 ' grep vault.reconcile_break "$WARDEN_SANDBOX/syslog.log"
  expect_fail "has drifted" wctl admin vault rotate db/appdb/reporting
  expect_out "DRIFTED since" wctl admin vault rotation db/appdb/reporting
  expect_fail "may not reset" wctl alice vault reset db/appdb/reporting
  expect_out "no longer drifted" wctl admin vault reset db/appdb/reporting
  pw=$(wctl admin --json vault get db/appdb/reporting | json_field value)
  expect_out reporting pg_login reporting "$pw"
  expect_fail "password authentication failed" pg_login reporting intruder-pw
  wctl admin reconcile db/appdb/ >/dev/null || fail "reconcile still fails after the reset"
  echo "  ok: a break is paged and blocks rotation until an admin resets it"

  # rotate-root: Warden's own admin; dynamic credentials keep working, also after a restart
  # (a new admin connection with the new password).
  expect_out "version 2" wctl admin db rotate-root appdb
  local admin_pw
  admin_pw=$(wctl admin --json vault get db/appdb/admin | json_field value)
  expect_fail "password authentication failed" pg_login warden_admin "adminpw-$PG_PORT"
  expect_out warden_admin pg_login warden_admin "$admin_pw"
  controller_stop
  controller_start
  local user
  user=$(wctl alice --json db creds readonly --ttl 10m | json_field username)
  [ "$(pg_roles "$user")" = 1 ] || fail "no dynamic role after rotate-root"
  echo "  ok: rotate-root, and the controller manages roles with the new admin password"
  local log=$WARDEN_SANDBOX/controller/audit/audit.log
  expect_out '"event":"vault.rotated"' cat "$log"
  grep -qF -e "$pw" -e "$admin_pw" "$log" "$WARDEN_SANDBOX/controller.log" "$WARDEN_SANDBOX/webhook.log" \
    "$WARDEN_SANDBOX/syslog.log" "$PG_DIR/log" && fail "a password is in a log"
  echo "  ok: no password in the audit log, the controller's log, the alerts or PostgreSQL's log"
}


e2e_rotation_ssh() {
  controller_init
  appliance_start "initial-pw"
  local other
  ssh-keygen -q -t ed25519 -N '' -f "$WARDEN_SANDBOX/other_key"
  other=$(cut -d' ' -f1,2 "$WARDEN_SANDBOX/other_key.pub")
  # The example policy's kv/appliance/* is checked out by operators and rotated after use.
  {
    printf 'rotation:\n  targets:\n'
    appliance_target kv/appliance/core appadmin "$APPLIANCE_KEY"
    appliance_target kv/appliance/impostor operator "$other"
  } >>"$WARDEN_SANDBOX/controller/policy.yaml"
  controller_start
  for u in alice admin; do login "$u" >/dev/null; done
  echo -n "initial-pw" | wctl admin vault put kv/appliance/core >/dev/null
  echo -n "initial-pw" | wctl admin vault put kv/appliance/impostor >/dev/null
  expect_out logged-in appliance_login initial-pw

  expect_out "vaulted as version 2" wctl admin vault rotate kv/appliance/core
  local pw
  pw=$(cat "$APPLIANCE_PW")
  [ "$pw" != initial-pw ] || fail "the appliance still has its old password"
  expect_out logged-in appliance_login "$pw"
  expect_fail "Permission denied" appliance_login initial-pw
  echo "  ok: the appliance's password changed through its own command; OpenSSH logs in with the new one only"

  # After use: alice checks it out (she sees it), checks it in, and it is rotated under her.
  local seen
  seen=$(wctl alice --json vault get kv/appliance/core | json_field value)
  [ "$seen" = "$pw" ] || fail "alice got another value than the appliance has"
  wctl alice vault checkin kv/appliance/core >/dev/null
  rotated() { [ "$(cat "$APPLIANCE_PW")" != "$seen" ]; }
  wait_for 20 rotated || fail "not rotated after its check-in"
  expect_fail "Permission denied" appliance_login "$seen"
  expect_out logged-in appliance_login "$(cat "$APPLIANCE_PW")"
  expect_out '"why":"after use"' grep '"event":"vault.rotate"' "$WARDEN_SANDBOX/controller/audit/audit.log"
  echo "  ok: rotated after use: the password alice saw no longer works"

  # A host key other than the pinned one: nothing is sent, and it is not mistaken for a break.
  local before tried out
  before=$(cat "$APPLIANCE_PW")
  tried=$(grep -c -e "Failed password" -e "Accepted password" "$WARDEN_SANDBOX/appliance/sshd.log" || true)
  expect_fail "is not the one pinned in the policy" wctl admin vault rotate kv/appliance/impostor
  out=$(wctl admin reconcile kv/appliance/impostor 2>&1) && fail "reconcile of an impostor succeeded"
  [[ "$out" == *"unreachable  kv/appliance/impostor"* ]] || fail "impostor not reported unreachable: $out"
  [ "$(cat "$APPLIANCE_PW")" = "$before" ] || fail "a rotation went to a host with another key"
  [ "$(grep -c -e "Failed password" -e "Accepted password" "$WARDEN_SANDBOX/appliance/sshd.log" || true)" = "$tried" ] ||
    fail "a password was sent to a host whose key is not the pinned one"
  expect_out "OK" echo "OK: no password sent to an unpinned host key; reported unreachable, not a break"

  # Changed on the appliance behind Warden's back: a reconcile break.
  echo -n "console-pw" >"$APPLIANCE_PW"
  expect_fail "1 reconcile break(s)" wctl admin reconcile kv/appliance/core
  echo "  ok: a changed appliance password is a reconcile break"
  grep -qF -e "$pw" -e "$seen" "$WARDEN_SANDBOX/controller/audit/audit.log" "$WARDEN_SANDBOX/controller.log" \
    "$WARDEN_SANDBOX/appliance/sshd.log" && fail "a password is in a log"
  echo "  ok: no password in the audit log, the controller's log or the appliance's"
}

# A directory of this test's own (docs/rotation.md, kind ldap): slapd with a self-signed
# certificate for 127.0.0.1, ldaps:// on a free loopback port, one service account that may
# change its own password (ACL: self write). ldap_whoami DN PASSWORD is the judge.
LDAP_BASE="dc=warden,dc=test"
LDAP_SVC="uid=svc-backup,ou=people,$LDAP_BASE"
ldap_start() {
  LDAP_DIR=$WARDEN_SANDBOX/ldap
  mkdir -p "$LDAP_DIR/db"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$LDAP_DIR/key.pem" -out "$LDAP_DIR/cert.pem" 2>/dev/null
  LDAP_PORT=$(free_port)
  LDAP_URL=ldaps://127.0.0.1:$LDAP_PORT
  cat >"$LDAP_DIR/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile $LDAP_DIR/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCertificateFile $LDAP_DIR/cert.pem
TLSCertificateKeyFile $LDAP_DIR/key.pem
database mdb
suffix "$LDAP_BASE"
rootdn "cn=admin,$LDAP_BASE"
rootpw admin-pw
directory $LDAP_DIR/db
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
EOF
  setsid slapd -d 0 -f "$LDAP_DIR/slapd.conf" -h "$LDAP_URL/" >"$LDAP_DIR/slapd.log" 2>&1 &
  SANDBOX_PIDS+=($!)
  ldap_up() { LDAPTLS_CACERT="$LDAP_DIR/cert.pem" ldapwhoami -x -H "$LDAP_URL" >/dev/null 2>&1; }
  wait_for 10 ldap_up || { cat "$LDAP_DIR/slapd.log" >&2; fail "slapd did not start"; }
  LDAPTLS_CACERT="$LDAP_DIR/cert.pem" ldapadd -x -H "$LDAP_URL" -D "cn=admin,$LDAP_BASE" -w admin-pw >/dev/null <<EOF
dn: $LDAP_BASE
objectClass: dcObject
objectClass: organization
o: Warden test
dc: warden

dn: ou=people,$LDAP_BASE
objectClass: organizationalUnit
ou: people

dn: $LDAP_SVC
objectClass: inetOrgPerson
uid: svc-backup
cn: Backup service
sn: Backup
userPassword: $1
EOF
}
ldap_whoami() {
  LDAPTLS_CACERT="$LDAP_DIR/cert.pem" ldapwhoami -x -H "$LDAP_URL" -D "$1" -w "$2"
}

e2e_rotation_ldap() {
  controller_init
  ldap_start "initial-pw"
  expect_out "dn:$LDAP_SVC" ldap_whoami "$LDAP_SVC" initial-pw
  cat >>"$WARDEN_SANDBOX/controller/policy.yaml" <<EOF
rotation:
  targets:
    "kv/ldap/svc-backup":
      kind: ldap
      url: $LDAP_URL
      ca_file: $LDAP_DIR/cert.pem
      dn: "$LDAP_SVC"
    "kv/ldap/untrusted":
      kind: ldap
      url: $LDAP_URL
      dn: "uid=nobody,ou=people,$LDAP_BASE"
    "kv/ldap/no-ca":
      kind: ldap
      url: $LDAP_URL
      ca_file: $LDAP_DIR/missing.pem
      dn: "uid=someone,ou=people,$LDAP_BASE"
EOF
  controller_start
  login admin >/dev/null
  echo -n "initial-pw" | wctl admin vault put kv/ldap/svc-backup >/dev/null
  echo -n "initial-pw" | wctl admin vault put kv/ldap/untrusted >/dev/null
  echo -n "initial-pw" | wctl admin vault put kv/ldap/no-ca >/dev/null
  expect_out "vaulted as version 2" wctl admin vault rotate kv/ldap/svc-backup
  local pw
  pw=$(wctl admin --json vault get kv/ldap/svc-backup | json_field value)
  expect_out "dn:$LDAP_SVC" ldap_whoami "$LDAP_SVC" "$pw"
  expect_fail "Invalid credentials" ldap_whoami "$LDAP_SVC" initial-pw
  expect_out "ok  kv/ldap/svc-backup" wctl admin reconcile kv/ldap/svc-backup
  echo "  ok: rotated by password modify; ldapwhoami binds with the new password only"
  # A server whose certificate Warden does not trust (no ca_file: the system's CAs) gets no
  # password: the TLS handshake fails first, so it is unreachable, never a refused bind (a break).
  expect_fail "Can't contact LDAP server" wctl admin vault rotate kv/ldap/untrusted
  local out
  out=$(wctl admin reconcile kv/ldap/untrusted 2>&1) && fail "reconcile of an untrusted server succeeded"
  [[ "$out" == *"unreachable  kv/ldap/untrusted"* ]] || fail "untrusted server not reported unreachable: $out"
  # A CA file that cannot be read: no fallback to libldap's global settings, nothing sent.
  LDAPTLS_REQCERT=never expect_fail "no password was sent" wctl admin vault rotate kv/ldap/no-ca
  # Changed by the directory's admin behind Warden's back: a break.
  LDAPTLS_CACERT="$LDAP_DIR/cert.pem" ldappasswd -x -H "$LDAP_URL" -D "cn=admin,$LDAP_BASE" -w admin-pw \
    -s intruder-pw "$LDAP_SVC" >/dev/null
  expect_fail "1 reconcile break(s)" wctl admin reconcile kv/ldap/svc-backup
  expect_out '"event":"vault.reconcile_break"' cat "$WARDEN_SANDBOX/controller/audit/audit.log"
  grep -qF "$pw" "$WARDEN_SANDBOX/controller/audit/audit.log" "$WARDEN_SANDBOX/controller.log" &&
    fail "a password is in a log"
  echo "  ok: an untrusted certificate gets no password; an out-of-band change is a break"
}

# A local account of an enrolled host (docs/rotation.md, kind linux). Host h1's wardend runs in a
# mount namespace whose /etc is a copy of this machine's (ETC_h1), as wardend sees /etc on a host
# of its own: it replaces that /etc/shadow by rename, under lckpwdf's lock. The judge is the
# system's password check, pam_unix, in a PAM service of that /etc (pamtester), which nothing of
# Warden's is part of.
in_etc() { unshare -m sh -c "mount --bind '$HOST_DIR_h1/etcroot' /etc && exec \"\$@\"" sh "$@"; }
pam_login() { echo "$1" | in_etc pamtester warden-judge svc-local authenticate acct_mgmt; }
host_reconcile_says() {
  local out
  out=$(wctl admin reconcile kv/hosts/h1/svc-local 2>&1) || true
  [[ "$out" == *"$1"* ]]
}
shadow_line() { grep "^$1:" "$HOST_DIR_h1/etcroot/shadow"; }
wardend_in_etc() {
  local d=$HOST_DIR_h1
  setsid unshare -m sh -c "mount --bind '$d/etcroot' /etc && exec '$d/bin/wardend' --config '$d/host.yaml' run" \
    >>"$d/wardend.log" 2>&1 &
  WARDEND_PID_h1=$!
  SANDBOX_PIDS+=("$!")
}

e2e_rotation_linux() {
  controller_init
  cat >>"$WARDEN_SANDBOX/controller/policy.yaml" <<EOF
rotation:
  targets:
    "kv/hosts/h1/svc-local": {kind: linux, host: h1, user: svc-local, password: {length: 20}}
    "kv/hosts/h1/root": {kind: linux, host: h1, user: root}
    "kv/hosts/h9/svc-local": {kind: linux, host: h9, user: svc-local}
EOF
  controller_start
  for u in alice admin; do login "$u" >/dev/null; done
  host_start h1 0 "env=prod"
  local d=$HOST_DIR_h1
  wardend_stop h1
  cp -a /etc "$d/etcroot"
  echo "svc-local:x:61950:61950:local service:/nonexistent:/usr/sbin/nologin" >>"$d/etcroot/passwd"
  echo "svc-local:!:20000:0:99999:7:::" >>"$d/etcroot/shadow"
  cp packaging/warden-host/warden-verify "$d/etcroot/pam.d/warden-verify"
  printf 'auth required pam_unix.so\naccount required pam_unix.so\n' >"$d/etcroot/pam.d/warden-judge"
  echo 'svc-local:initial-pw' | in_etc chpasswd
  echo "rotate_accounts: [svc-local]" >>"$d/host.yaml"
  wardend_in_etc
  local root_before
  root_before=$(shadow_line root)
  echo -n "initial-pw" | wctl admin vault put kv/hosts/h1/svc-local >/dev/null
  echo -n "root-pw" | wctl admin vault put kv/hosts/h1/root >/dev/null
  wait_for 20 wctl admin reconcile kv/hosts/h1/svc-local || fail "the vaulted password is not proven on h1"
  expect_out "ok  kv/hosts/h1/svc-local" wctl admin reconcile kv/hosts/h1/svc-local
  echo "  ok: wardend proves the vaulted password through the host's PAM stack"

  expect_out "vaulted as version 2" wctl admin vault rotate kv/hosts/h1/svc-local
  local pw pw2
  pw=$(wctl admin --json vault get kv/hosts/h1/svc-local | json_field value)
  pw2=$pw
  [ "${#pw}" = 20 ] || fail "the new password is not the policy's 20 characters: ${#pw}"
  expect_out "successfully authenticated" pam_login "$pw"
  expect_fail "Authentication failure" pam_login initial-pw
  shadow_line svc-local | grep -q ":$(($(date +%s) / 86400)):0:99999:7:::\$" ||
    fail "the shadow line lost its other fields: $(shadow_line svc-local)"
  [ "$(stat -c %G:%a "$d/etcroot/shadow")" = "shadow:640" ] || fail "shadow's group or mode changed"
  [ "$(shadow_line root)" = "$root_before" ] || fail "another account's line changed"
  echo "  ok: a new hash in /etc/shadow (group, mode and other lines kept); login accepts it, not the old one"

  # An account the host did not hand to Warden: refused by the host, nothing changed, no break.
  expect_fail "does not let Warden rotate the password of root" wctl admin vault rotate kv/hosts/h1/root
  [ "$(shadow_line root)" = "$root_before" ] || fail "root's password was changed"
  local out
  out=$(wctl admin reconcile kv/hosts/h1/root 2>&1) && fail "reconcile of an unlisted account succeeded"
  [[ "$out" == *"unreachable  kv/hosts/h1/root"* ]] || fail "unlisted account not reported unreachable: $out"
  echo -n "h9-pw" | wctl admin vault put kv/hosts/h9/svc-local >/dev/null
  expect_fail "no enrolled host is named h9" wctl admin vault rotate kv/hosts/h9/svc-local
  echo "  ok: root, which h1 does not list in rotate_accounts, is refused by h1 and left alone"

  # wardend down: nothing changes, the rotation fails and is alerted; back up, it rotates.
  wardend_stop h1
  # The controller notices the closed stream within moments; a task before that is refused too.
  wait_for 10 host_reconcile_says "is not connected to the controller" ||
    fail "the controller still thinks h1 is connected"
  expect_fail "is not connected to the controller" wctl admin vault rotate kv/hosts/h1/svc-local
  expect_out "successfully authenticated" pam_login "$pw"
  wardend_in_etc
  wait_for 20 wctl admin vault rotate kv/hosts/h1/svc-local || fail "no rotation after wardend came back"
  local pw3
  pw3=$(wctl admin --json vault get kv/hosts/h1/svc-local | json_field value)
  [ "$pw3" != "$pw" ] || fail "not rotated after wardend came back"
  expect_out "successfully authenticated" pam_login "$pw3"
  echo "  ok: with wardend down nothing changes; once it is back the rotation goes through"

  # Changed on the host behind Warden's back (root runs chpasswd): a break.
  echo 'svc-local:console-pw' | in_etc chpasswd
  expect_fail "1 reconcile break(s)" wctl admin reconcile kv/hosts/h1/svc-local
  expect_out '"event":"vault.reconcile_break"' cat "$WARDEN_SANDBOX/controller/audit/audit.log"
  expect_fail "has drifted" wctl admin vault rotate kv/hosts/h1/svc-local
  expect_out "no longer drifted" wctl admin vault reset kv/hosts/h1/svc-local
  pw=$(wctl admin --json vault get kv/hosts/h1/svc-local | json_field value)
  expect_out "successfully authenticated" pam_login "$pw"
  expect_fail "Authentication failure" pam_login console-pw
  echo "  ok: a password changed on the host is a break; reset sets a new one after investigation"
  grep -qF -e "$pw" -e "$pw2" -e "$pw3" -e initial-pw -e console-pw -e root-pw \
    "$WARDEN_SANDBOX/controller/audit/audit.log" "$WARDEN_SANDBOX/controller.log" \
    "$d/wardend.log" && fail "a password is in a log"
  echo "  ok: no password in the audit log, the controller's log or wardend's"
}

# Active Directory (docs/rotation.md, kind ad): a Samba AD DC provisioned into a directory of
# this test, serving LDAP only (server services = ldap, one process) on loopback's LDAP ports
# 389/636 with a certificate for 127.0.0.1 made here. warden-bind, a Domain Admin, resets
# svc-appliance's password (an admin reset) and changes its own (rotate-root). ad_bind DN
# PASSWORD is the judge: a simple bind over LDAPS, as ldapsearch makes it.
AD_BASE="DC=warden,DC=test"
ad_bind() {
  LDAPTLS_CACERT="$AD_DIR/cert.pem" ldapsearch -x -H ldaps://127.0.0.1 -D "$1" -w "$2" -b "$AD_BASE" \
    -s base dn 2>&1 | grep -q "^dn: $AD_BASE" || {
    LDAPTLS_CACERT="$AD_DIR/cert.pem" ldapsearch -x -H ldaps://127.0.0.1 -D "$1" -w "$2" -b "$AD_BASE" -s base dn 2>&1 | head -3
    return 1
  }
  echo "bound as $1"
}
ad_start() {
  AD_DIR=$(mktemp -d /tmp/warden-ad.XXXXXX)
  SANDBOX_DIRS+=("$AD_DIR")
  samba-tool domain provision --realm=WARDEN.TEST --domain=WARDEN --server-role=dc --dns-backend=NONE \
    --adminpass='Adm1n-Pass!' --targetdir="$AD_DIR" --host-name=dc1 >"$AD_DIR/provision.log" 2>&1 ||
    { tail -20 "$AD_DIR/provision.log" >&2; fail "samba-tool domain provision failed"; }
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$AD_DIR/key.pem" -out "$AD_DIR/cert.pem" 2>/dev/null
  chmod 600 "$AD_DIR/key.pem"
  # Nothing outside AD_DIR: logs, pid file and sockets there; LDAP on loopback only. A replaced
  # password stops working at once (Samba's default keeps the previous one usable for an hour:
  # docs/rotation.md).
  sed -i -e '/^\tserver services = /d' -e '/^\tlog file = /d' -e "s|^\[global\]|[global]\n\tserver services = ldap\n\told password allowed period = 0\n\tinterfaces = lo\n\tbind interfaces only = yes\n\tlog file = $AD_DIR/log.%m\n\tpid directory = $AD_DIR\n\tncalrpc dir = $AD_DIR/ncalrpc\n\ttls enabled = yes\n\ttls keyfile = $AD_DIR/key.pem\n\ttls certfile = $AD_DIR/cert.pem\n\ttls cafile =|" \
    "$AD_DIR/etc/smb.conf"
  local sam=$AD_DIR/private/sam.ldb
  samba-tool domain passwordsettings set --min-pwd-age=0 -H "$sam" >/dev/null
  samba-tool user create warden-bind 'Bind-Pass-1!' -H "$sam" >/dev/null
  samba-tool group addmembers "Domain Admins" warden-bind -H "$sam" >/dev/null
  samba-tool user create svc-appliance 'Svc-Pass-1!' -H "$sam" >/dev/null
  setsid samba -i -M single -s "$AD_DIR/etc/smb.conf" >"$AD_DIR/samba.out" 2>&1 &
  SANDBOX_PIDS+=($!)
  wait_for 60 ad_bind "CN=Administrator,CN=Users,$AD_BASE" 'Adm1n-Pass!' ||
    { tail -20 "$AD_DIR/samba.out" >&2; fail "samba did not start"; }
}

e2e_rotation_ad() {
  controller_init
  ad_start
  local bind="CN=warden-bind,CN=Users,$AD_BASE" svc="CN=svc-appliance,CN=Users,$AD_BASE"
  cat >>"$WARDEN_SANDBOX/controller/policy.yaml" <<EOF
rotation:
  targets:
    "kv/ad/warden-bind": {kind: ad, url: "ldaps://127.0.0.1", ca_file: "$AD_DIR/cert.pem", dn: "$bind"}
    "kv/ad/svc-appliance":
      kind: ad
      url: "ldaps://127.0.0.1"
      ca_file: "$AD_DIR/cert.pem"
      dn: "$svc"
      admin: kv/ad/warden-bind
EOF
  controller_start
  login admin >/dev/null
  echo -n 'Bind-Pass-1!' | wctl admin vault put kv/ad/warden-bind >/dev/null
  echo -n 'Svc-Pass-1!' | wctl admin vault put kv/ad/svc-appliance >/dev/null
  expect_out "ok  kv/ad/svc-appliance" wctl admin reconcile kv/ad/

  expect_out "vaulted as version 2" wctl admin vault rotate kv/ad/svc-appliance
  local pw
  pw=$(wctl admin --json vault get kv/ad/svc-appliance | json_field value)
  expect_out "bound as $svc" ad_bind "$svc" "$pw"
  expect_fail "Invalid credentials" ad_bind "$svc" 'Svc-Pass-1!'
  echo "  ok: an admin reset of unicodePwd by warden-bind; the DC binds with the new password only"

  # rotate-root: the bind account changes its own password (old value deleted, new added).
  expect_out "vaulted as version 2" wctl admin vault rotate kv/ad/warden-bind
  local bind_pw
  bind_pw=$(wctl admin --json vault get kv/ad/warden-bind | json_field value)
  expect_out "bound as $bind" ad_bind "$bind" "$bind_pw"
  expect_fail "Invalid credentials" ad_bind "$bind" 'Bind-Pass-1!'
  expect_out "vaulted as version 3" wctl admin vault rotate kv/ad/svc-appliance
  local pw2=$pw
  pw=$(wctl admin --json vault get kv/ad/svc-appliance | json_field value)
  expect_out "bound as $svc" ad_bind "$svc" "$pw"
  echo "  ok: the bind account rotated itself, and resets with its new password"

  # Reset on the DC behind Warden's back: a break; vault reset sets a new one without the old.
  samba-tool user setpassword svc-appliance --newpassword='Intruder-Pass-1!' -H "$AD_DIR/private/sam.ldb" >/dev/null
  expect_fail "1 reconcile break(s)" wctl admin reconcile kv/ad/
  expect_out "no longer drifted" wctl admin vault reset kv/ad/svc-appliance
  pw=$(wctl admin --json vault get kv/ad/svc-appliance | json_field value)
  expect_out "bound as $svc" ad_bind "$svc" "$pw"
  expect_fail "Invalid credentials" ad_bind "$svc" 'Intruder-Pass-1!'
  echo "  ok: a password reset on the DC is a break; vault reset puts a new one through warden-bind"
  grep -qF -e "$pw" -e "$pw2" -e "$bind_pw" -e 'Bind-Pass-1!' -e 'Svc-Pass-1!' "$WARDEN_SANDBOX/controller/audit/audit.log" \
    "$WARDEN_SANDBOX/controller.log" && fail "a password is in a log"
  echo "  ok: no password in the audit log or the controller's log"
}

e2e_vault_shamir() {
  setup --seal shamir --shares 5 --threshold 3
  [ "$(wc -l <"$WARDEN_SANDBOX/shares")" -eq 5 ] || fail "init did not print 5 shares"
  expect_out "Vault: SEALED (seal: shamir, 3 of 5 shares)" wctl admin operator status
  expect_fail "the vault is sealed" wctl admin vault put kv/app/db --value x
  expect_fail "alice is not a vault custodian" wctl alice operator unseal "$(share 1)"
  local typo
  typo=$(share 1 | python3 -c 'import sys; s=sys.stdin.read().strip(); print(s[:20] + ("1" if s[20] == "0" else "0") + s[21:])')
  expect_fail "mistyped" wctl admin operator unseal "$typo"
  expect_out "1 given so far" wctl admin operator unseal "$(share 1)"
  expect_fail "admin already gave a share" wctl admin operator unseal "$(share 2)"
  expect_fail "share 1 was already given" wctl bob operator unseal "$(share 1)"
  # The share typed at the prompt (not echoed), as a custodian would.
  share 4 | expect_out "2 given so far" wctl bob operator unseal
  expect_out "Vault: unsealed" wctl carol operator unseal "$(share 5)"
  echo -n "db-pw-1" | expect_out "Stored kv/app/db version 1" wctl admin vault put kv/app/db
  expect_out "db-pw-1" wctl admin vault get kv/app/db
  # Break-glass stop: sealed at once, and it says so.
  expect_out "Vault: SEALED" wctl bob operator seal
  expect_fail "the vault is sealed: no secret can be read or written" wctl admin vault get kv/app/db
  # A restart keeps it sealed (shamir): the shares are needed again.
  controller_stop
  controller_start
  expect_out "Vault: SEALED" wctl admin operator status
  wctl admin operator unseal "$(share 2)" >/dev/null
  wctl bob operator unseal "$(share 3)" >/dev/null
  wctl carol operator unseal "$(share 1)" >/dev/null
  expect_out "db-pw-1" wctl admin vault get kv/app/db
}

e2e_vault_dual_control() {
  setup
  expect_out "Vault: unsealed (seal: pkcs11, 3 of 5 shares)" wctl admin operator status
  local secret="Tr0ub4dor&3-$RANDOM$RANDOM"
  echo -n "$secret" | wctl admin vault put kv/tier0/domain-admin >/dev/null
  # alice's read returns a wrapping token and an accessor, not the secret.
  wctl alice --json vault get kv/tier0/domain-admin >"$WARDEN_SANDBOX/req.json"
  grep -qF "$secret" "$WARDEN_SANDBOX/req.json" && fail "the requester got the secret without approvals"
  local token accessor
  token=$(json_field token <"$WARDEN_SANDBOX/req.json")
  accessor=$(json_field accessor <"$WARDEN_SANDBOX/req.json")
  echo "  ok: the read returned a wrapping token, not the secret"
  expect_fail "0 of 2 authorizations so far" wctl alice vault unwrap "$token"
  expect_fail "alice may not authorize their own request" wctl alice vault authorize "$accessor" --reason mine
  expect_out "1 of 2 authorizations" wctl bob vault authorize "$accessor" --reason "CHG-7 outage"
  expect_fail "one person counts once" wctl bob vault authorize "$accessor" --reason again
  expect_fail "1 of 2 authorizations so far" wctl alice vault unwrap "$token"
  expect_fail "admin is not in the control group of kv/tier0/domain-admin (approvers)" \
    wctl admin vault authorize "$accessor" --reason admin
  expect_out "2 of 2 authorizations" wctl carol vault authorize "$accessor" --reason "CHG-7 confirmed"
  expect_fail "issued to alice, not bob" wctl bob vault unwrap "$token"
  # The requester unwraps exactly once; the token is typed at the prompt.
  echo "$token" | expect_out "$secret" wctl alice vault unwrap
  expect_fail "already unwrapped" wctl alice vault unwrap "$token"
  expect_out "bob: CHG-7 outage" wctl bob vault lookup "$accessor"
  # The audit log has every step, and the secret appears in it nowhere, nor in the controller's log.
  local log=$WARDEN_SANDBOX/controller/audit/audit.log
  expect_out '"call":"VaultService.Authorize"' cat "$log"
  expect_out '"value_hmac":"hmac-sha256:' grep '"call":"VaultService.Unwrap"' "$log"
  grep -qF "$secret" "$log" "$WARDEN_SANDBOX/controller.log" && fail "the secret is in a log"
  grep -qF "$token" "$log" && fail "the wrapping token is in the audit log"
  echo "  ok: the secret and the token appear in no log"
  # A ciphertext moved to another path does not open.
  echo -n "other" | wctl admin vault put kv/app/x >/dev/null
  echo -n "mine" | wctl admin vault put kv/app/y >/dev/null
  sqlite3 "$WARDEN_SANDBOX/controller/warden.db" "UPDATE vault_versions SET ciphertext=(SELECT ciphertext FROM vault_versions WHERE path='kv/app/x'), wrapped_key=(SELECT wrapped_key FROM vault_versions WHERE path='kv/app/x') WHERE path='kv/app/y'"
  expect_fail "moved from another path or version" wctl admin vault get kv/app/y
  # Check-out of an appliance's password: exclusive, rotated after use.
  echo -n "san-pw" | wctl admin vault put kv/appliance/san-admin >/dev/null
  expect_out "san-pw" wctl alice vault get kv/appliance/san-admin
  expect_fail "is checked out by alice until" wctl bob vault get kv/appliance/san-admin
  expect_out "Checked in kv/appliance/san-admin" wctl alice vault checkin kv/appliance/san-admin
  expect_out "USED" wctl admin vault metadata kv/appliance/san-admin
  expect_out '"event":"vault.rotate_needed"' cat "$log"
}

# The field guide's bank appliance behind warden-sshgw (docs/ssh-gateway.md): a password-only
# sshd stand-in (appliance_start), its admin password vaulted and rotated after use, reached only
# through a tier-0 gateway with the certificate of a broker role's grant.
sshgw_setup() {
  controller_init
  appliance_start "initial-pw"
  local other
  ssh-keygen -q -t ed25519 -N '' -f "$WARDEN_SANDBOX/other_key"
  other=$(cut -d' ' -f1,2 "$WARDEN_SANDBOX/other_key.pub")
  policy_add_roles <<'EOF'
  bank-appliance:
    tier: 0
    login: "bank-{{user}}"
    max_ttl: 1h
    requesters: [operators]
    approvals: {count: 2, groups: [approvers]}
    extensions: {allowed: [permit-pty], default: [permit-pty]}
    critical_options: {source-address: "127.0.0.0/8"}
    recording: {input: redact}
    broker: {target: core, credential: kv/appliance/core, allow: [shell, exec]}
  bank-moderated:
    tier: 0
    login: "bankm-{{user}}"
    max_ttl: 1h
    requesters: [operators]
    approvals: {count: 2, groups: [approvers]}
    extensions: {allowed: [permit-pty], default: [permit-pty]}
    broker: {target: core, credential: kv/appliance/core}
    require_moderator: {count: 1, groups: [approvers], on_leave: terminate, wait: 2m}
  bank-files:
    tier: 0
    login: "files-{{user}}"
    requesters: [operators]
    approvals: {count: 2, groups: [approvers]}
    extensions: {allowed: [permit-pty], default: [permit-pty]}
    broker: {target: core, credential: kv/appliance/core, allow: [exec, sftp]}
  bank-impostor:
    tier: 0
    login: "imp-{{user}}"
    requesters: [operators]
    approvals: {count: 2, groups: [approvers]}
    extensions: {allowed: [permit-pty], default: [permit-pty]}
    broker: {target: impostor, credential: kv/appliance/impostor}
  bank-tier1:
    tier: 1
    login: "t1-{{user}}"
    requesters: [operators]
    approvals: {count: 1, groups: [approvers]}
    broker: {target: core, credential: kv/appliance/core}
EOF
  {
    printf 'rotation:\n  targets:\n'
    appliance_target kv/appliance/core appadmin "$APPLIANCE_KEY"
    appliance_target kv/appliance/impostor operator "$other"
  } >>"$WARDEN_SANDBOX/controller/policy.yaml"
  controller_start
  for u in alice bob carol admin; do login "$u" >/dev/null; done
  echo -n "initial-pw" | wctl admin vault put kv/appliance/core >/dev/null
  echo -n "initial-pw" | wctl admin vault put kv/appliance/impostor >/dev/null
  sshgw_start gw0 0
}

sealed() { wctl admin recordings verify "$1" >/dev/null 2>&1; }

# broker_session GRANT: the recorded session of GRANT (the newest).
broker_session() {
  wctl admin --json sessions | python3 -c 'import json,sys
print([x["id"] for x in json.load(sys.stdin) if x["grant"]==sys.argv[1]][-1])' "$1"
}

# broker_grant ROLE KEY: a grant of ROLE for alice and KEY signed under it; sets G and LOGIN.
broker_grant() {
  G=$(grant_for "$1" 30m)
  LOGIN=$(wctl alice --json grants | python3 -c 'import json,sys
print([g["login"] for g in json.load(sys.stdin) if g["id"]==sys.argv[1]][0])' "$G")
  new_key "$2"
  wctl alice cert sign --grant "$G" -i "$WARDEN_SANDBOX/$2" >/dev/null
}

e2e_sshgw() {
  sshgw_setup
  broker_grant bank-appliance op
  # The operator's own OpenSSH client, through the gateway, to the appliance that takes only a
  # password: the gateway logged in with the vaulted one.
  local out
  out=$(gw_ssh op -l "$LOGIN@core" 127.0.0.1 'echo marker-$((6*7)) as $(id -un)' 2>&1) ||
    fail "the brokered command failed: $out $(cat "$WARDEN_SANDBOX/gw0/sshgw.log")"
  [[ "$out" == *"marker-42 as appadmin"* ]] || fail "unexpected output: $out"
  [[ "$out" == *initial-pw* ]] && fail "the vaulted password reached the operator"
  echo "  ok: a command ran on the appliance through the gateway as appadmin"
  # After the session the credential was checked in and rotated: the old password fails against
  # the appliance, the new vaulted one works, and the next session gets it.
  # The gateway reports the session closed once the controller has checked the credential in
  # and rotated it (its log says so); the operator's client is gone by then.
  rotated_from() { [ "$(cat "$APPLIANCE_PW")" != "$1" ]; }
  wait_for 20 rotated_from initial-pw || fail "the appliance password was not rotated after the session"
  reported() { grep -q "credential checked in; rotated to version $1" "$WARDEN_SANDBOX/gw0/sshgw.log"; }
  wait_for 10 reported 2 || fail "the gateway did not report the check-in and rotation"
  local pw
  pw=$(cat "$APPLIANCE_PW")
  expect_fail "Permission denied" appliance_login initial-pw
  expect_out logged-in appliance_login "$pw"
  expect_out "kv/appliance/core v2" wctl admin vault metadata kv/appliance/core
  expect_out "marker-2" gw_ssh op -l "$LOGIN" 127.0.0.1 'echo marker-$((1+1))'
  wait_for 20 rotated_from "$pw" || fail "not rotated after the second session"
  echo "  ok: checked in and rotated after each session; the old password no longer logs in"
  local log=$WARDEN_SANDBOX/controller/audit/audit.log
  expect_out '"event":"broker.open"' cat "$log"
  expect_out '"event":"broker.close"' cat "$log"
  expect_out '"why":"after use"' grep '"event":"vault.rotate"' "$log"
  # The session was recorded: the command and its output, and no password.
  local sid
  sid=$(wctl admin --json sessions | python3 -c 'import json,sys
print([x["id"] for x in json.load(sys.stdin) if x["grant"]==sys.argv[1]][0])' "$G")
  expect_out 'echo marker-$((6*7))' wctl admin recordings export "$sid" --format commands
  expect_out "marker-42 as appadmin" wctl admin recordings export "$sid" --format text
  expect_out "OK" wctl admin recordings verify "$sid"
  echo "  ok: the brokered session is recorded, sealed and verifiable"

  # Refused, each with its reason, and nothing reaches the appliance.
  new_key bare
  out=$(ssh -i "$WARDEN_SANDBOX/bare" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o BatchMode=yes -p "$SSHGW_PORT" -l "$LOGIN@core" 127.0.0.1 true 2>&1) &&
    fail "a plain key logged in"
  [[ "$out" == *"only Warden certificates log in here"* ]] || fail "no reason for a plain key: $out"
  GW_LOG=INFO expect_fail "reaches core, not elsewhere" gw_ssh op -l "$LOGIN@elsewhere" 127.0.0.1 true
  GW_LOG=INFO expect_fail 'does not name "root"' gw_ssh op -l "root@core" 127.0.0.1 true
  # SFTP and forwarding are not in the role's allow list.
  expect_fail "subsystem request failed" sftp -i "$WARDEN_SANDBOX/op" -o CertificateFile="$WARDEN_SANDBOX/op-cert.pub" \
    -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
    -P "$SSHGW_PORT" "$LOGIN@core@127.0.0.1"
  GW_LOG=INFO expect_fail "remote port forwarding failed" gw_ssh op -o ExitOnForwardFailure=yes \
    -R "0:127.0.0.1:$APPLIANCE_PORT" -l "$LOGIN@core" 127.0.0.1 true
  echo "  ok: a plain key, another target, another login, sftp and remote forwarding are refused"
  # ProxyJump: the jump's channel leads into the gateway itself, which brokers the inner
  # connection like any other (a local forward, -L or -W, can reach nothing but the gateway).
  cat >"$WARDEN_SANDBOX/jump.cfg" <<EOF
Host gw
  HostName 127.0.0.1
  Port $SSHGW_PORT
  User $LOGIN
Host core
  ProxyJump gw
  User $LOGIN
Host *
  IdentityFile $WARDEN_SANDBOX/op
  CertificateFile $WARDEN_SANDBOX/op-cert.pub
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  BatchMode yes
EOF
  expect_out "jumped-9 appadmin" ssh -F "$WARDEN_SANDBOX/jump.cfg" core 'echo jumped-$((3*3)) $(id -un)'
  GW_LOG=INFO expect_fail "reaches core, not db9" ssh -F "$WARDEN_SANDBOX/jump.cfg" -o LogLevel=INFO \
    -J gw "$LOGIN@db9" true
  echo "  ok: ssh -J through the gateway reaches the grant's target, and only it"
  # wardenctl ssh finds the grant by the login before the first '@', signs the key, runs ssh.
  new_key viactl
  expect_out "via-wardenctl appadmin" wctl alice ssh -i "$WARDEN_SANDBOX/viactl" -p "$SSHGW_PORT" \
    --ssh-option StrictHostKeyChecking=no --ssh-option UserKnownHostsFile=/dev/null \
    --ssh-option BatchMode=yes --ssh-option LogLevel=ERROR "$LOGIN@core@127.0.0.1" -- echo via-wardenctl '$(id -un)'
  echo "  ok: wardenctl ssh LOGIN@TARGET@GATEWAY"
  # A role that allows sftp: files go both ways through the gateway, and each is recorded with
  # its size; the same role's shell is refused.
  broker_grant bank-files files
  head -c 5000 /dev/urandom >"$WARDEN_SANDBOX/up.bin"
  printf 'put %s /tmp/warden-up-%s.bin\nget /tmp/warden-up-%s.bin %s\nrm /tmp/warden-up-%s.bin\n' \
    "$WARDEN_SANDBOX/up.bin" "$$" "$$" "$WARDEN_SANDBOX/down.bin" "$$" >"$WARDEN_SANDBOX/batch"
  out=$(sftp -b "$WARDEN_SANDBOX/batch" -i "$WARDEN_SANDBOX/files" -o CertificateFile="$WARDEN_SANDBOX/files-cert.pub" \
    -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -P "$SSHGW_PORT" "$LOGIN@core@127.0.0.1" 2>&1) || fail "sftp through the gateway failed: $out"
  cmp "$WARDEN_SANDBOX/up.bin" "$WARDEN_SANDBOX/down.bin" || fail "the file came back different"
  sid=$(broker_session "$G")
  wait_for 15 sealed "$sid" || fail "the sftp session's recording was not sealed"
  expect_out "sftp write /tmp/warden-up-$$.bin 5000" wctl admin recordings export "$sid" --format commands
  expect_out "sftp read /tmp/warden-up-$$.bin 5000" wctl admin recordings export "$sid" --format commands
  expect_out "sftp remove /tmp/warden-up-$$.bin" wctl admin recordings export "$sid" --format commands
  expect_out "$sid" wctl admin sessions --command "/tmp/warden-up-$$.bin"
  expect_fail "shell request failed" gw_ssh files -tt -l "$LOGIN@core" 127.0.0.1 </dev/null
  echo "  ok: sftp where the role allows it: both ways, each file recorded with its size"
  # A grant of a role that is not brokered, and one of tier 1, at this tier-0 gateway.
  G1=$(grant_for tier0-linux-admin 30m)
  new_key plain
  wctl alice cert sign --grant "$G1" -i "$WARDEN_SANDBOX/plain" >/dev/null
  local plain_login
  plain_login=$(ssh-keygen -L -f "$WARDEN_SANDBOX/plain-cert.pub" | awk '/Principals:/{getline; print $1}')
  GW_LOG=INFO expect_fail "is not brokered by gateways" gw_ssh plain -l "$plain_login@core" 127.0.0.1 true
  local rid t1
  rid=$(wctl alice --json request --role bank-tier1 --reason CHG-9 | json_field id)
  t1=$(wctl bob --json approve "$rid" | json_field grant_id)
  new_key tier1
  wctl alice cert sign --grant "$t1" -i "$WARDEN_SANDBOX/tier1" >/dev/null
  GW_LOG=INFO expect_fail "not signed by a user CA of tier 0" gw_ssh tier1 -l "t1-alice@core" 127.0.0.1 true
  echo "  ok: a non-broker role's certificate and a tier-1 certificate are refused with the reason"
  # A target whose host key is not the pinned one: refused before a password is sent.
  broker_grant bank-impostor imp
  local tried
  tried=$(grep -c -e "Failed password" -e "Accepted password" "$WARDEN_SANDBOX/appliance/sshd.log" || true)
  GW_LOG=INFO expect_fail "is not the one pinned" gw_ssh imp -l "$LOGIN@impostor" 127.0.0.1 true
  [ "$(grep -c -e "Failed password" -e "Accepted password" "$WARDEN_SANDBOX/appliance/sshd.log" || true)" = "$tried" ] ||
    fail "a password was sent to a target whose host key is not the pinned one"
  echo "  ok: a changed target host key refuses the session; no password was sent"
  # A certificate narrowed to another source address than the client's.
  broker_grant bank-appliance narrow
  wctl alice cert sign --grant "$G" -i "$WARDEN_SANDBOX/narrow" --source-address 127.0.0.2/32 >/dev/null
  GW_LOG=INFO expect_fail "valid only from 127.0.0.2/32, not from 127.0.0.1" gw_ssh narrow -l "$LOGIN@core" 127.0.0.1 true
  # Expired: a grant of seconds, used after its end.
  rid=$(wctl alice --json request --role bank-appliance --reason CHG-10 --ttl 3s | json_field id)
  wctl bob approve "$rid" >/dev/null
  local short
  short=$(wctl carol --json approve "$rid" | json_field grant_id)
  new_key brief
  wctl alice cert sign --grant "$short" -i "$WARDEN_SANDBOX/brief" >/dev/null
  local brief_login
  brief_login=$(ssh-keygen -L -f "$WARDEN_SANDBOX/brief-cert.pub" | awk '/Principals:/{getline; print $1}')
  sleep 4
  GW_LOG=INFO expect_fail "the certificate expired" gw_ssh brief -l "$brief_login@core" 127.0.0.1 true
  echo "  ok: a certificate from another source address, and an expired one, are refused with the reason"
  # Revoked: the grant's certificate no longer logs in.
  broker_grant bank-appliance op2
  wctl bob revoke "$G" >/dev/null
  GW_LOG=INFO expect_fail "revoked" gw_ssh op2 -l "$LOGIN@core" 127.0.0.1 true
  echo "  ok: a revoked grant's certificate is refused"
  # No password in any log or in what the operator saw.
  local p
  for p in initial-pw "$pw" "$(cat "$APPLIANCE_PW")"; do
    grep -qF -e "$p" "$log" "$WARDEN_SANDBOX/controller.log" "$WARDEN_SANDBOX/gw0/sshgw.log" &&
      fail "a password is in a log"
  done
  echo "  ok: no password in the audit log, the controller's log or the gateway's"
  gateway_alive
}

# gateway_alive: the gateway of sshgw_setup served the whole test without dying.
gateway_alive() {
  pgrep -f "warden-sshgw --config $WARDEN_SANDBOX/gw0/gateway.yaml serve" >/dev/null ||
    fail "the gateway died: $(tail -5 "$WARDEN_SANDBOX/gw0/sshgw.log")"
}

# gw_line KEY: an interactive login through the gateway as $LOGIN@core, for tmux.
gw_line() {
  echo "ssh -tt -i $WARDEN_SANDBOX/$1 -o CertificateFile=$WARDEN_SANDBOX/$1-cert.pub" \
    "-o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null" \
    "-o LogLevel=ERROR -p $SSHGW_PORT -l $LOGIN@core 127.0.0.1"
}

e2e_sshgw_live() {
  sshgw_setup
  broker_grant bank-appliance op
  tm new-session -d -s gw -x 100 -y 30 "$(gw_line op) | tee $WARDEN_SANDBOX/gw.client; sleep 600"
  wait_for 10 pane_has gw 'applicable law' || fail "no login through the gateway: $(tm capture-pane -p -t gw)"
  type_line gw 'echo typed-$((6*7))' 'typed-42'
  # The window grows: the gateway relays the change to the appliance's pty.
  tm resize-window -t gw -x 120 -y 40
  type_line gw 'stty size' '40 120'
  # A password typed at a prompt (echo off) is withheld from the recording.
  type_line gw 'stty -echo; printf "Password: "; read x; stty echo; echo got-${#x}' 'Password:'
  tm send-keys -t gw 'hunter2-secret' Enter
  wait_for 10 pane_has gw 'got-14' || fail "the prompt did not finish: $(tm capture-pane -p -t gw)"
  echo "  ok: an interactive shell on the appliance through the gateway (pty, window size)"
  # Revoked mid-session: the gateway ends it within a second or two, saying why.
  local sid
  sid=$(broker_session "$G")
  wctl bob revoke "$G" >/dev/null
  wait_for 5 pane_has gw "is revoked" || fail "the session did not end on revocation: $(tm capture-pane -p -t gw)"
  gw_gone() { ! pgrep -f "^ssh -tt -i $WARDEN_SANDBOX/op " >/dev/null; }
  wait_for 10 gw_gone || fail "the operator's ssh is still connected after the revocation"
  echo "  ok: revoking the grant ended the live session"
  wait_for 15 sealed "$sid" || fail "the session's recording was not sealed"
  wctl admin recordings export "$sid" --format raw -o "$WARDEN_SANDBOX/gw.raw"
  wctl admin recordings export "$sid" -o "$WARDEN_SANDBOX/gw.cast"
  expect_out '"i","echo typed-$((6*7))\r"' cat "$WARDEN_SANDBOX/gw.cast"
  expect_out "typed-42" cat "$WARDEN_SANDBOX/gw.raw"
  expect_out '"r","120x40"' cat "$WARDEN_SANDBOX/gw.cast"
  expect_out '"m","input redacted (14 bytes)"' cat "$WARDEN_SANDBOX/gw.cast"
  grep -q hunter2 "$WARDEN_SANDBOX/gw.raw" "$WARDEN_SANDBOX/gw.cast" && fail "the typed password is in the recording"
  grep -qF -e initial-pw "$WARDEN_SANDBOX/gw.raw" "$WARDEN_SANDBOX/gw.cast" "$WARDEN_SANDBOX/gw.client" &&
    fail "the vaulted password is in the recording or the operator's terminal"
  echo "  ok: recorded: input, output, window size; the typed password redacted, the vaulted one absent"

  # Four-eyes: the session waits until an approver watches it, input held meanwhile.
  broker_grant bank-moderated op3
  tm new-session -d -s held -x 100 -y 30 "$(gw_line op3); sleep 600"
  wait_for 15 pane_has held "waits for 1 moderator" || fail "no hold message: $(tm capture-pane -p -t held)"
  tm send-keys -t held 'echo early-$((1+1))' Enter
  sleep 1
  pane_has held "early-2" && fail "the held session ran a command before a moderator joined"
  sid=$(live_sessions bob | cut -d' ' -f1)
  [ -n "$sid" ] || fail "the held session is not listed live"
  expect_out " 0/1" live_sessions bob
  echo "  ok: the brokered four-eyes session waits, and runs nothing"
  tm new-session -d -s mod -x 100 -y 30 \
    "$WARDENCTL --home $WARDEN_SANDBOX/home-bob join $sid --mode moderator; sleep 600"
  wait_for 15 pane_has held "early-2" || fail "the session did not start with a moderator: $(tm capture-pane -p -t held)"
  type_line held 'echo watched-$((6*7))' 'watched-42'
  wait_for 10 pane_has mod "watched-42" || fail "the moderator does not see the session"
  echo "  ok: a moderator joined: the held input ran, and the moderator watches live"
  tm send-keys -t mod t
  wait_for 10 pane_has held "session ended" || fail "the moderator's terminate did not end it: $(tm capture-pane -p -t held) $(tm capture-pane -p -t mod) $(cat $WARDEN_SANDBOX/gw0/sshgw.log)"
  echo "  ok: the moderator's terminate ended the brokered session"
  gateway_alive
}

# --- RDP gateway (warden-rdpgw): FreeRDP's shadow server as the target, xfreerdp as the operator ----

RDP_PW='Target-Pw-1'

# rdpgw_setup: a controller whose policy brokers RDP to the shadow server (win-admin), the same
# with another certificate pinned (win-other-cert) and a tier-1 role (win-tier1); the target's
# password in the vault; a tier-0 warden-rdpgw; an X display for the operator's client.
rdpgw_setup() {
  controller_init
  rdp_target_start winadmin "$RDP_PW"
  {
    rdp_broker_role win-admin 0 win "$RDP_TARGET_CERT"
    rdp_broker_role win-other-cert 0 wino "$(printf 'ab%.0s' $(seq 32))"
    rdp_broker_role win-tier1 1 wint "$RDP_TARGET_CERT"
  } | policy_add_roles
  printf 'detections:\n  rules:\n    - {name: cross-tier, kind: cross_tier, severity: critical}\n' \
    >>"$WARDEN_SANDBOX/controller/policy.yaml"
  controller_start
  for u in alice bob carol admin; do login "$u" >/dev/null; done
  echo -n "$RDP_PW" | wctl admin vault put kv/win1/admin >/dev/null
  rdpgw_start rgw0 0
  xvfb_start CLIENT_DISPLAY 1280x1024
}

# rdp_ticket GRANT [OPTIONS]: a ticket of alice's; sets TICKET_USER and TICKET_PW.
rdp_ticket() {
  local j
  j=$(wctl alice --json rdp ticket "$@") || fail "no ticket: $j"
  TICKET_USER=$(echo "$j" | json_field user)
  TICKET_PW=$(echo "$j" | json_field password)
}

# rdp_connect NAME USER PASSWORD: xfreerdp on the operator's display, through the gateway, in the
# background (its pid: RDP_CLIENT_PID; its output: $WARDEN_SANDBOX/NAME.client).
rdp_connect() {
  HOME=$WARDEN_SANDBOX/xfreerdp DISPLAY=$CLIENT_DISPLAY setsid xfreerdp /v:"127.0.0.1:$RDPGW_PORT" \
    /u:"$2" /p:"$3" /cert:ignore /sec:tls >"$WARDEN_SANDBOX/$1.client" 2>&1 &
  RDP_CLIENT_PID=$!
  SANDBOX_PIDS+=("$RDP_CLIENT_PID")
}

rgw_has() { grep -qF -- "$1" "$WARDEN_SANDBOX/rgw0/rdpgw.log"; }
client_gone() { ! kill -0 "$RDP_CLIENT_PID" 2>/dev/null; }
# screen_hash DISPLAY: SHA-256 of the 256x256 square at 64,64 of DISPLAY's screen.
screen_hash() {
  xwd -root -silent -display "$1" >"$WARDEN_SANDBOX/shot.xwd" &&
    python3 "$here/pixels.py" hash "$WARDEN_SANDBOX/shot.xwd" 64 64 256 256
}
same_screen() { [ "$(screen_hash "$RDP_TARGET_DISPLAY")" = "$(screen_hash "$CLIENT_DISPLAY")" ]; }

# A refused logon: the client ends, the gateway logs why.
rdp_refused() {
  local why=$1
  shift
  rdp_connect refused "$@"
  wait_for 20 client_gone || fail "the client is still connected"
  wait_for 5 rgw_has "$why" || fail "the gateway did not log \"$why\": $(tail -5 "$WARDEN_SANDBOX/rgw0/rdpgw.log")"
  echo "  ok: refused: $why"
}

e2e_rdpgw() {
  rdpgw_setup
  python3 "$here/pixels.py" xbm "$WARDEN_SANDBOX/pattern.xbm"
  DISPLAY=$RDP_TARGET_DISPLAY xsetroot -bitmap "$WARDEN_SANDBOX/pattern.xbm" -fg '#e01b24' -bg '#f6d32d'
  G=$(grant_for win-admin 30m)
  rdp_ticket "$G"
  local ticket=$TICKET_USER secret=$TICKET_PW
  rdp_connect live "$TICKET_USER" "$TICKET_PW"
  wait_for 20 rgw_has "(grant $G) from 127.0.0.1 to win1 as winadmin" ||
    fail "no session: $(cat "$WARDEN_SANDBOX/live.client")"
  # The shadow server's SAM file knows winadmin only: its NLA let the gateway in with the vaulted
  # password under the injected name, not the ticket the operator typed.
  echo "  ok: the target authenticated the injected account winadmin (the operator typed $ticket)"
  wait_for 20 same_screen || fail "the operator's screen does not show the target's"
  local pattern t_pattern
  pattern=$(screen_hash "$RDP_TARGET_DISPLAY")
  t_pattern=$(date +%s%N)
  echo "  ok: the operator's screen shows the target's (the pattern, pixel for pixel)"
  sleep 1
  DISPLAY=$RDP_TARGET_DISPLAY xsetroot -solid '#2ec27e'
  wait_for 20 same_screen || fail "the target's change did not reach the operator"
  local solid
  solid=$(screen_hash "$RDP_TARGET_DISPLAY")
  [ "$solid" != "$pattern" ] || fail "the target's screen did not change"
  echo "  ok: what the target draws next reaches the operator"

  # The ticket was taken: it opens nothing a second time.
  local keep=$RDP_CLIENT_PID
  rdp_refused "is unknown or was used already" "$ticket" "$secret"
  RDP_CLIENT_PID=$keep
  kill -0 "$RDP_CLIENT_PID" || fail "the live session ended"

  # An admin's terminate ends it within seconds.
  local sid started
  sid=$(broker_session "$G")
  wctl admin terminate "$sid" --reason "rdp check" >/dev/null
  wait_for 10 client_gone || fail "the operator is still connected after the terminate"
  wait_for 10 rgw_has "ended: ended by admin: rdp check" || fail "the gateway did not say why the session ended"
  echo "  ok: terminating the session disconnected the operator"
  wait_for 20 sealed "$sid" || fail "recording $sid not sealed"
  started=$(wctl admin --json sessions | python3 -c 'import json,sys
print([x["started_ns"] for x in json.load(sys.stdin) if x["id"]==sys.argv[1]][0])' "$sid")
  local at
  at=$(python3 -c 'import sys; print("%.3f" % ((int(sys.argv[1]) - int(sys.argv[2])) / 1e9))' "$t_pattern" "$started")
  wctl admin recordings export "$sid" --format png --at "$at" -o "$WARDEN_SANDBOX/at.png"
  [ "$(python3 "$here/pixels.py" hash "$WARDEN_SANDBOX/at.png" 64 64 256 256)" = "$pattern" ] ||
    fail "the frame at ${at}s is not the target's screen then"
  wctl admin recordings export "$sid" --format png --at 99:00:00 -o "$WARDEN_SANDBOX/end.png"
  [ "$(python3 "$here/pixels.py" hash "$WARDEN_SANDBOX/end.png" 64 64 256 256)" = "$solid" ] ||
    fail "the last frame is not the target's last screen"
  echo "  ok: the recording replays to the target's pixels at ${at}s and at the end"
  expect_fail "needs --at" wctl admin recordings export "$sid" --format png
  expect_fail "use SECONDS, MM:SS or HH:MM:SS" wctl admin recordings export "$sid" --format png --at 1:x

  # Revoked mid-session: both legs end within seconds.
  rdp_ticket "$G"
  rdp_connect second "$TICKET_USER" "$TICKET_PW"
  wait_for 20 same_screen || fail "the second session does not show the target"
  wctl bob revoke "$G" >/dev/null
  wait_for 10 client_gone || fail "the operator is still connected after the revocation"
  wait_for 10 rgw_has "is revoked" || fail "the gateway did not say why the session ended"
  echo "  ok: revoking the grant disconnected the operator"
}

# The attacker without a ticket: connections that never log on (one stalled in the TLS handshake)
# hold no slot past the logon grace time, and beyond max_connections are closed at once; then an
# operator with a ticket gets in.
e2e_rdpgw_flood() {
  GATEWAY_EXTRA_CONFIG=$'max_connections: 3\nlogon_grace_seconds: 3' rdpgw_setup
  python3 - "$RDPGW_PORT" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
# An X.224 connection request asking for TLS; then nothing: the gateway waits in the handshake.
request = bytes.fromhex("03000013" "0ee00000000000" "0100080001000000")
held = []
for _ in range(3):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request)
    held.append(s)
time.sleep(0.5)
extra = socket.create_connection(("127.0.0.1", port))
extra.settimeout(5)
if extra.recv(100) != b"":
    sys.exit("FAIL: a connection beyond max_connections was answered")
print("  ok: beyond max_connections a connection is closed at once")
start = time.time()
for s in held:
    s.settimeout(15)
    while s.recv(4096):
        pass
took = time.time() - start
if took > 8:
    sys.exit("FAIL: the stalled connections were held %.1f s" % took)
print("  ok: connections stalled in the TLS handshake were dropped at the grace time")
EOF
  rgw_has "no logon within 3 s" || fail "the gateway did not log the drops"
  rdp_ticket "$(grant_for win-admin 30m)"
  rdp_connect after "$TICKET_USER" "$TICKET_PW"
  wait_for 20 same_screen || fail "an operator with a ticket did not get in after the flood"
  echo "  ok: then an operator with a ticket gets in"
}

e2e_rdpgw_refusals() {
  rdpgw_setup
  local G
  G=$(grant_for win-admin 30m)
  rdp_ticket "$G"
  rdp_refused "wrong secret for ticket $TICKET_USER" "$TICKET_USER" "$(printf "a%.0s" $(seq 24))"
  rdp_refused "ticket $TICKET_USER is unknown or was used already" "$TICKET_USER" "$TICKET_PW"
  rdp_ticket "$G" --ttl 1s
  sleep 2
  rdp_refused "ticket $TICKET_USER expired at" "$TICKET_USER" "$TICKET_PW"
  rdp_refused "no ticket in its logon" "" ""
  # Not shaped like a ticket: refused by the gateway without asking the controller.
  rdp_refused "no ticket in its logon" "Administrator" "hunter2"
  expect_fail "a ticket lives 1 to 120 seconds" wctl alice rdp ticket "$G" --ttl 10m
  expect_fail "is not yours" wctl bob rdp ticket "$G"
  # A role whose pinned certificate is not the target's: no password is sent.
  rdp_ticket "$(grant_for win-other-cert 30m)"
  rdp_refused "the role pins sha256:$(printf 'ab%.0s' $(seq 32))" "$TICKET_USER" "$TICKET_PW"
  # A tier-1 role at this tier-0 gateway.
  rdp_ticket "$(grant_for win-tier1 30m)"
  rdp_refused "is tier 1; this gateway serves tier 0" "$TICKET_USER" "$TICKET_PW"
  wait_for 10 bash -c "'$WARDENCTL' --home '$WARDEN_SANDBOX/home-admin' alerts | grep -q 'critical cross-tier: alice tried a tier-1 credential at tier-0 gateway'" ||
    fail "no cross-tier alert: $(wctl admin alerts)"
  echo "  ok: the attempt is a critical cross-tier alert"
  # A revoked grant's ticket.
  rdp_ticket "$G"
  wctl bob revoke "$G" >/dev/null
  rdp_refused "grant $G is revoked" "$TICKET_USER" "$TICKET_PW"
  expect_fail "is revoked" wctl alice rdp ticket "$G"
}

# --- SIEM forwarding and detection rules (docs/siem.md) ---------------------------------------

# siem_receivers: a webhook that answers 503 while $WARDEN_SANDBOX/hook.down exists (each body it
# takes, JSON lines, appended to hook.jsonl), rsyslog over TCP (collector "plain") and over TLS
# ("secure").
siem_receivers() {
  HOOK_PORT=$(free_port)
  setsid python3 "$SANDBOX_SCRIPTS/webhook.py" "$HOOK_PORT" "$WARDEN_SANDBOX/hook.jsonl" \
    "$WARDEN_SANDBOX/hook.down" &
  SANDBOX_PIDS+=($!)
  rsyslog_start plain
  PLAIN_PID=$RSYSLOG_PID
  rsyslog_start secure tls
  SECURE_PID=$RSYSLOG_PID
}

# siem_complete FILE: every event of the audit log is in FILE (JSON lines), none missing;
# prints how many arrived twice (at least once allows it).
siem_complete() {
  python3 - "$WARDEN_SANDBOX/controller/audit/audit.log" "$1" <<'EOF'
import json, sys
want = [json.loads(l)["seq"] for l in open(sys.argv[1])]
got = []
for l in open(sys.argv[2]) if __import__("os").path.exists(sys.argv[2]) else []:
    got.append(json.loads(l)["seq"])
missing = sorted(set(want) - set(got))
if missing:
    print("missing %d of %d, first %s" % (len(missing), len(want), missing[:5]))
    sys.exit(1)
print("%d events, %d twice" % (len(want), len(got) - len(set(got))))
EOF
}

# Every event reaches rsyslog over TCP and TLS, a webhook and a file; sinks that go down catch up
# with nothing lost, are alerted while behind, and never hold up the API; a restart of the
# controller resumes from each sink's cursor.
e2e_siem() {
  controller_init
  siem_receivers
  cat >>"$WARDEN_SANDBOX/controller/policy.yaml" <<EOF
siem:
  sinks:
    soc-tcp: {type: syslog, address: "127.0.0.1:$(cat "$WARDEN_SANDBOX/plain/port")"}
    soc-tls: {type: syslog, address: "127.0.0.1:$(cat "$WARDEN_SANDBOX/secure/port")", tls: true,
              ca_file: $WARDEN_SANDBOX/secure/ca.crt}
    soc-api: {type: webhook, url: "http://127.0.0.1:$HOOK_PORT/ingest"}
    archive: {type: file, path: $WARDEN_SANDBOX/events.jsonl}
  lag_alert_events: 30
EOF
  printf 'metrics:\n  listen: 127.0.0.1:0\n' >>"$WARDEN_SANDBOX/controller/controller.yaml"
  controller_start
  for u in alice bob carol admin; do login "$u" >/dev/null; done
  local metrics_url
  metrics_url=$(sed -n 's/^warden-controller metrics on \(.*\)$/http:\/\/\1/p' "$WARDEN_SANDBOX/controller.log" | tail -1)
  [ -n "$metrics_url" ] || fail "the controller did not say where its metrics are"
  metric() { python3 -c 'import sys, urllib.request
for l in urllib.request.urlopen(sys.argv[1]).read().decode().splitlines():
    if l.startswith(sys.argv[2] + " "): print(l.split()[-1])' "$metrics_url" "$1"; }
  [ "$(metric 'warden_api_requests_total{call="AuthService.Login",code="OK"}')" = 4 ] ||
    fail "metrics do not count the 4 logins: $(metric 'warden_api_requests_total{call="AuthService.Login",code="OK"}')"
  echo "  ok: $metrics_url counts API calls by outcome"
  local f all_in
  all_in() {
    for f in plain/messages secure/messages hook.jsonl events.jsonl; do
      siem_complete "$WARDEN_SANDBOX/$f" >/dev/null || return 1
    done
  }
  wait_for 20 all_in || fail "not every event reached every sink: $(for f in plain/messages secure/messages hook.jsonl events.jsonl; do siem_complete "$WARDEN_SANDBOX/$f"; done)"
  echo "  ok: every event reached rsyslog over TCP and TLS, the webhook and the file"
  grep -q '^{"args":{"otp":"hmac-sha256:' "$WARDEN_SANDBOX/plain/messages" ||
    fail "the syslog MSG is not the event's JSON"
  # Outage: the TLS collector stops, the webhook answers 503.
  kill "$SECURE_PID"
  touch "$WARDEN_SANDBOX/hook.down"
  local i
  for i in $(seq 1 20); do wctl alice requests >/dev/null || fail "a call failed while sinks were down"; done
  echo "  ok: 20 calls answered while two sinks were down"
  wait_for 20 bash -c "grep -q '\"sink\":\"soc-tls\"' '$WARDEN_SANDBOX/events.jsonl' &&
    grep -q '\"sink\":\"soc-api\"' '$WARDEN_SANDBOX/events.jsonl'" ||
    fail "no siem.lag alert for the sinks that are down"
  expect_out "warning siem.lag: SIEM sink soc-api is " wctl admin alerts
  [ "$(metric 'warden_siem_sink_behind_events{sink="soc-tls"}')" -gt 0 ] || fail "no lag in the metrics"
  [ "$(metric 'warden_siem_sink_up{sink="soc-api"}')" = 0 ] || fail "the webhook sink is not down in the metrics"
  [ "$(metric 'warden_alerts_total{name="siem.lag",severity="warning"}')" = 2 ] ||
    fail "the lag alerts are not counted in the metrics: $(python3 -c "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1]).read().decode())" "$metrics_url" | grep alerts)"
  echo "  ok: the metrics show both sinks behind and down, and their alerts"
  expect_out "No alerts." wctl admin alerts --severity critical
  wait_for 10 siem_complete "$WARDEN_SANDBOX/plain/messages" || fail "the sink that stayed up fell behind"
  # They come back: everything they missed arrives.
  rsyslog_start secure tls
  rm "$WARDEN_SANDBOX/hook.down"
  wait_for 60 all_in || fail "sinks did not catch up: $(for f in secure/messages hook.jsonl; do siem_complete "$WARDEN_SANDBOX/$f"; done)"
  wait_for 10 test "$(metric 'warden_siem_sink_behind_events{sink="soc-tls"}')" -lt 5 ||
    fail "the metrics still show the TLS sink behind"
  echo "  ok: after the outage: TLS syslog $(siem_complete "$WARDEN_SANDBOX/secure/messages"), webhook $(siem_complete "$WARDEN_SANDBOX/hook.jsonl")"
  wait_for 10 grep -q '"event":"siem.caught_up","prev"' "$WARDEN_SANDBOX/events.jsonl" ||
    fail "no siem.caught_up event"
  # A restart resumes from each sink's cursor.
  controller_stop
  local before
  before=$(wc -l <"$WARDEN_SANDBOX/events.jsonl")
  controller_start
  wctl alice requests >/dev/null
  wait_for 20 all_in || fail "sinks did not resume after a restart"
  local resent
  resent=$(python3 -c 'import json,sys
lines=open(sys.argv[1]).read().splitlines()
seen=set(json.loads(l)["seq"] for l in lines[:int(sys.argv[2])])
print(sum(1 for l in lines[int(sys.argv[2]):] if json.loads(l)["seq"] in seen))' "$WARDEN_SANDBOX/events.jsonl" "$before")
  [ "$resent" -eq 0 ] || fail "the file sink sent $resent events again after a clean restart"
  echo "  ok: after a restart every sink resumed at its cursor (file sink: nothing sent twice)"
  grep -q "is not a cursor" "$WARDEN_SANDBOX/controller.log" && fail "a cursor file was unreadable"
  # A policy mistake is named at start.
  controller_stop
  sed -i 's/type: webhook/type: kafka/' "$WARDEN_SANDBOX/controller/policy.yaml"
  expect_fail 'siem.sinks.soc-api: type "kafka" is not a sink type; supported: syslog, webhook, file' \
    "$CONTROLLER" serve --config "$WARDEN_SANDBOX/controller/controller.yaml"
}

# alert_count RULE: how many alerts of RULE `wardenctl alerts` lists.
alert_count() {
  wctl admin --json alerts --limit 1000 | python3 -c 'import json,sys
print(sum(1 for a in json.load(sys.stdin) if a.get("rule")==sys.argv[1]))' "$1"
}
# has_alerts RULE N: at least N alerts of RULE.
has_alerts() { [ "$(alert_count "$1")" -ge "$2" ]; }

# Detection rules on real traffic: a tier-0 grant outside every change window (and none once a
# window covers it), two operators approving each other's requests, an attempt at approving
# one's own, and a recorded session running a watched command (with its offset into the
# recording); nothing fires on their negatives.
e2e_detections() {
  controller_init
  cat >"$WARDEN_SANDBOX/controller/windows.yaml" <<'EOF'
windows:
  - {id: CHG-1, start: 2020-01-01T00:00:00Z, end: 2020-01-02T00:00:00Z, tiers: [0]}
EOF
  {
    echo "  ops-mutual:"
    echo "    tier: 1"
    echo "    login: \"mut-{{user}}\""
    echo "    requesters: [operators, approvers]"
    echo "    approvals: {count: 1, groups: [operators, approvers]}"
  } | policy_add_roles
  cat >>"$WARDEN_SANDBOX/controller/policy.yaml" <<'EOF'
detections:
  change_windows: windows.yaml
  rules:
    - {name: tier0-outside-window, kind: outside_change_window, severity: critical, tiers: [0]}
    - {name: collusion, kind: approval_chain, within: 1h}
    - {name: watched, kind: command_watch, commands: [visudo, useradd], paths: [authorized_keys]}
EOF
  controller_start
  for u in alice bob carol admin; do login "$u" >/dev/null; done
  grant_for tier0-linux-admin 30m >/dev/null
  wait_for 10 has_alerts tier0-outside-window 1 || fail "no alert for a tier-0 grant outside the windows"
  expect_out "critical tier0-outside-window: grant g-" wctl admin alerts --severity critical
  echo "  ok: a tier-0 grant outside every change window is a critical alert"
  # A window that covers now: the next grant is expected.
  python3 - "$WARDEN_SANDBOX/controller/windows.yaml" <<'EOF'
import sys, time
f = "%Y-%m-%dT%H:%M:%SZ"
now = time.time()
open(sys.argv[1], "w").write("windows:\n  - {id: CHG-2, start: %s, end: %s, tiers: [0]}\n" % (
    time.strftime(f, time.gmtime(now - 600)), time.strftime(f, time.gmtime(now + 3600))))
EOF
  sleep 0.5
  grant_for tier0-linux-admin 30m >/dev/null
  # A tier-1 grant is not this rule's business either.
  local rid
  rid=$(wctl alice --json request --role tier1-linux-ops --reason CHG-2 | json_field id)
  wctl bob approve "$rid" >/dev/null
  # Negative of the chain: carol approves alice, nobody approves carol.
  rid=$(wctl alice --json request --role ops-mutual --reason CHG-3 | json_field id)
  wctl carol approve "$rid" >/dev/null
  sleep 1
  [ "$(alert_count tier0-outside-window)" -eq 1 ] || fail "a grant inside a change window was alerted"
  [ "$(alert_count collusion)" -eq 0 ] || fail "a one-way approval was alerted as collusion"
  echo "  ok: no alert for a grant inside a window, a tier-1 grant, or a one-way approval"
  # Bob approved alice's first request (grant_for); now alice approves bob's, and bob another
  # of hers: one alert for the pair.
  rid=$(wctl bob --json request --role ops-mutual --reason CHG-4 | json_field id)
  wctl alice approve "$rid" >/dev/null
  wait_for 10 has_alerts collusion 1 || fail "no alert for two operators approving each other"
  expect_out "alice and bob approved each other's requests" wctl admin alerts
  rid=$(wctl alice --json request --role ops-mutual --reason CHG-5 | json_field id)
  wctl bob approve "$rid" >/dev/null
  # Alice tries to approve her own, while an auditor follows the alerts.
  wctl admin alerts --follow --since 1h >"$WARDEN_SANDBOX/follow.out" 2>&1 &
  local follower=$!
  SANDBOX_PIDS+=("$follower")
  wait_for 10 grep -q "alice and bob approved" "$WARDEN_SANDBOX/follow.out" ||
    fail "alerts --follow did not print what was there: $(cat "$WARDEN_SANDBOX/follow.out")"
  rid=$(wctl alice --json request --role ops-mutual --reason CHG-6 | json_field id)
  expect_fail "cannot review your own request" wctl alice approve "$rid"
  wait_for 10 has_alerts collusion 2 || fail "no alert for an attempt at approving one's own request"
  expect_out "alice tried to approve their own request $rid (refused)" wctl admin alerts
  wait_for 10 grep -q "alice tried to approve their own request $rid" "$WARDEN_SANDBOX/follow.out" ||
    fail "alerts --follow did not print the new alert: $(cat "$WARDEN_SANDBOX/follow.out")"
  [ "$(grep -c "alice and bob approved" "$WARDEN_SANDBOX/follow.out")" -eq 1 ] ||
    fail "alerts --follow printed an alert twice"
  stop_processes "$follower"
  echo "  ok: alerts --follow printed the new alert once it was raised, and nothing twice"
  echo "  ok: approving each other's requests, and trying to approve one's own, are alerted"
  # A recorded session runs a watched command.
  host_start h1 0 env=prod
  host_grant 10m
  tmux_ssh det
  type_line det 'ls -d /etc/ssh' '/etc/ssh'
  type_line det 'echo x >/dev/null; cat ~/.ssh/authorized_keys 2>/dev/null; echo done-1' 'done-1'
  type_line det exit 'logout'
  local sid
  sid=$(sealed_session)
  wait_for 10 has_alerts watched 1 || fail "no alert for a watched command"
  sleep 1
  [ "$(alert_count watched)" -eq 1 ] || fail "$(alert_count watched) alerts for one watched command"
  expect_out "session $sid of alice (as $LOGIN) on" wctl admin alerts
  expect_out "(watched: authorized_keys)" wctl admin alerts
  expect_out "evidence: session $sid at 00:00:" wctl admin alerts
  echo "  ok: a session that read authorized_keys is alerted with its offset; ls is not"
  # A restart replays the log for the rules' state but does not alert twice.
  controller_stop
  controller_start
  wctl alice requests >/dev/null
  sleep 1
  [ "$(alert_count collusion)" -eq 2 ] || fail "alerts were raised again after a restart"
  echo "  ok: a restart raises nothing twice"
}

# coverage_says PYTHON: wardenctl coverage --json, as `c`, makes PYTHON true.
coverage_says() {
  wctl admin --json coverage | python3 -c 'import json,sys
c=json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"
}
# login_report_count AUDIT_LOG: the hosts' reports that carried logins.
login_report_count() {
  python3 -c 'import json,sys
n=0
for l in open(sys.argv[1]):
    e=json.loads(l)
    if e.get("type")=="intent" and e.get("call")=="HostService.ReportInventory" and e.get("args",{}).get("logins",0)>0: n+=1
print(n)' "$1"
}
# tty_ssh_as: ssh_as with a terminal.
tty_ssh_as() { SSH_TT=1 ssh_as "$@"; }
# unmanaged: the unmanaged accounts, as "host:account" lines.
unmanaged() {
  wctl admin --json coverage | python3 -c 'import json,sys
for u in json.load(sys.stdin)["unmanaged"]: print(u["host"] + ":" + u["account"])'
}

# Discovery and coverage on a real host: wardend finds the standing credentials planted in its
# tree (a sudo member's key where sshd_config puts keys, a sudoers rule's account with a password
# hash, root's key), reports them and again when they are removed; real sshd logins with a
# terminal land in the host's login records and come back as bypass and break-glass alerts (one
# made while the controller is down); a Warden session counts as recorded; KPIs per tier and group.
e2e_coverage() {
  controller_init
  cat >>"$WARDEN_SANDBOX/controller/policy.yaml" <<'EOF'
detections:
  rules:
    - {name: break-glass, kind: break_glass_login, severity: critical}
    - {name: bypass, kind: bypass_login, tiers: [0]}
EOF
  controller_start
  for u in alice bob carol admin; do login "$u" >/dev/null; done
  host_start h1 0 env=prod,group=payments
  local inv=$HOST_DIR_h1/inventory audit=$WARDEN_SANDBOX/controller/audit/audit.log
  wait_for 15 coverage_says 'c["groups"][0]["hosts_reporting"] == 1' ||
    fail "h1 reported no inventory: $(wctl admin coverage)"
  [ "$(unmanaged)" = "h1:root" ] || fail "unmanaged on a fresh host: $(unmanaged)"
  expect_out "h1 root [break-glass] (uid 0): key SHA256:" wctl admin coverage
  echo "  ok: enrolment reported the inventory: root's key, read where sshd_config puts keys"
  # Planted: localops joins sudo (its key is standing), svc gets a sudoers rule and a password.
  sed -i 's/^sudo:x:27:$/sudo:x:27:localops/' "$inv/etc/group"
  cp "$HOST_DIR_h1/authorized_keys/localops" "$inv/keys/localops"
  echo 'svc:x:61901:61901::/nonexistent:/bin/sh' >>"$inv/etc/passwd"
  echo 'svc:$6$c2FsdA$aGFzaA:19000::::::' >>"$inv/etc/shadow"
  echo '@includedir /etc/sudoers.d' >"$inv/etc/sudoers"
  mkdir -p "$inv/etc/sudoers.d"
  echo 'svc ALL=(root) /usr/bin/systemctl' >"$inv/etc/sudoers.d/svc"
  wait_for 15 coverage_says 'len(c["unmanaged"]) == 3' || fail "the planted credentials were not found: $(unmanaged)"
  expect_out "h1 localops (group sudo): key SHA256:" wctl admin coverage
  expect_out "h1 svc (sudoers /etc/sudoers.d/svc:1): password" wctl admin coverage
  expect_out "0    payments      1/1       0/3 0%" wctl admin coverage
  grep '"event":"host.inventory"' "$audit" | tail -1 | grep -q '"standing_added":\["localops","svc"\]' ||
    fail "the change was not audited: $(grep '"event":"host.inventory"' "$audit" | tail -1)"
  echo "  ok: planted standing credentials were reported on change and audited"
  # Remediation: root's key goes, svc's rule goes.
  rm "$inv/keys/root" "$inv/etc/sudoers.d/svc"
  wait_for 15 coverage_says '[u["account"] for u in c["unmanaged"]] == ["localops"]' ||
    fail "the removal was not reported: $(unmanaged)"
  expect_out "0    payments      1/1       1/2 50%" wctl admin coverage
  echo "  ok: removing them is reported too (zero-standing 1/2)"
  # A privileged local account logs in with its standing key, with a terminal: the host's login
  # records show it; so does root's, made while the controller is down (reported once it is back).
  expect_out "bypass-ok" tty_ssh_as h1 localops-h1 localops 'echo bypass-ok'
  wait_for 15 has_alerts bypass 1 || fail "no bypass alert: $(wctl admin alerts)"
  expect_out "privileged account localops logged in on h1 (tier 0) from 127.0.0.1 without going through Warden" \
    wctl admin alerts
  controller_stop
  expect_out "glass-ok" tty_ssh_as h1 root-h1 root 'echo glass-ok'
  sleep 2
  controller_start
  wait_for 30 has_alerts break-glass 1 || fail "no break-glass alert after the outage: $(wctl admin alerts)"
  expect_out "critical break-glass: break-glass account root logged in on h1 (tier 0)" \
    wctl admin alerts --severity critical
  echo "  ok: a bypass login and a break-glass login (made during an outage) are alerted"
  # A Warden session: recorded, its login record not a bypass.
  host_grant 10m
  expect_out "warden-ok" $(ssh_line) 'echo warden-ok'
  sealed_session >/dev/null
  wait_for 15 coverage_says 'c["groups"][0]["sessions_recorded"] == 1' || fail "the session was not counted"
  expect_out "1/3 33%             1 bypass, 1 break-glass" wctl admin coverage
  # wardend restarts: nothing reported twice (the host's own cursor, not the controller's
  # dedupe: the audit log shows one more report with logins, for the one new login).
  local login_reports
  login_reports=$(login_report_count "$audit")
  wardend_stop h1
  wardend_start h1
  tty_ssh_as h1 localops-h1 localops true >/dev/null
  wait_for 15 has_alerts bypass 2 || fail "no alert for the second bypass login"
  sleep 2
  [ "$(alert_count bypass)" -eq 2 ] || fail "$(alert_count bypass) bypass alerts for two logins"
  [ "$(alert_count break-glass)" -eq 1 ] || fail "the break-glass login was reported again"
  [ "$(login_report_count "$audit")" -eq $((login_reports + 1)) ] ||
    fail "wardend sent logins again after a restart: $(login_report_count "$audit") reports, $login_reports before"
  echo "  ok: the Warden session is counted as recorded; a wardend restart reports nothing twice"
  expect_out "No enrolled hosts of tier 1." wctl admin coverage --tier 1 --since 1h
  coverage_says 'c["groups"][0]["bypass_logins"] == 2 and c["groups"][0]["break_glass_logins"] == 1' ||
    fail "coverage --json: $(wctl admin --json coverage)"
  expect_fail "coverage: for admins and recording viewers only (groups admins)" wctl alice coverage
  echo "  ok: coverage per tier, as JSON, and for auditors only"
}

[ $# -eq 1 ] || { echo "usage: $0 TEST" >&2; exit 2; }
declare -F "e2e_$1" >/dev/null || { echo "no such e2e test: $1" >&2; exit 2; }
echo "e2e.$1"
"e2e_$1"
echo "PASS e2e.$1"
