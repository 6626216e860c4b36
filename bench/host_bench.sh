#!/usr/bin/env bash
# Host-side benchmarks through the real stack (controller, wardend, sshd with libnss_warden and
# pam_warden in a private mount namespace), side by side in one run:
#   login latency: N sequential certificate logins of a Warden account vs N plain-key logins of
#                  a local account to the same sshd and PAM stack (interleaved), and plain-key
#                  logins of the Warden account, which split the difference in two;
#   propagation:   approve -> the account resolves on the host; revoke -> sshd would refuse it
#                  (the account's AuthorizedPrincipalsFile is gone), over N grants.
# Usage: bench/host_bench.sh [LOGINS] [GRANTS]   (needs root; WARDEN_BIN = build directory)
set -euo pipefail
logins=${1:-50}
grants=${2:-10}
: "${WARDEN_BIN:=$(cd "$(dirname "$0")/.." && pwd)/build/default}"
export WARDEN_BIN
# shellcheck source=../scripts/sandbox.sh
source "$(dirname "$0")/../scripts/sandbox.sh"
trap sandbox_cleanup EXIT

controller_init
controller_start
for u in alice bob carol admin; do login "$u" >/dev/null; done
host_start h1 0 env=prod
d=$HOST_DIR_h1

now_ns() { date +%s%N; }
# stats NAME FILE: p50 and p90 in ms of the nanosecond samples in FILE.
stats() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys
v = sorted(int(x) / 1e6 for x in open(sys.argv[2]))
pct = lambda p: v[min(len(v) - 1, int(p * len(v)))]
print(f"  {sys.argv[1]:<46} n={len(v):<3} p50 {pct(0.5):7.1f} ms   p90 {pct(0.9):7.1f} ms")
PY
}
p50() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int(NR/2)+1]}'; }

# --- login latency ---------------------------------------------------------------------------
g=$(grant_for tier0-linux-admin 1h)
account=$(wctl alice --json grants | json_field login)
new_key op
wctl alice cert sign --grant "$g" -i "$WARDEN_SANDBOX/op" >/dev/null
# The same Warden account with a plain key as well (authorized_keys): the same NSS, PAM account
# and session path without the certificate and its principals file, which splits
# what Warden adds into the certificate path and the PAM/session path.
new_key opkey
cp "$WARDEN_SANDBOX/opkey.pub" "$d/authorized_keys/$account"
ssh_as h1 op "$account" true  # first login creates the home; not counted
ssh_as h1 opkey "$account" true
ssh_as h1 "localops-h1" localops true
: >"$WARDEN_SANDBOX/warden.ns"
: >"$WARDEN_SANDBOX/warden_key.ns"
: >"$WARDEN_SANDBOX/plain.ns"
for _ in $(seq "$logins"); do
  t=$(now_ns); ssh_as h1 op "$account" true; echo $(($(now_ns) - t)) >>"$WARDEN_SANDBOX/warden.ns"
  t=$(now_ns); ssh_as h1 opkey "$account" true; echo $(($(now_ns) - t)) >>"$WARDEN_SANDBOX/warden_key.ns"
  t=$(now_ns); ssh_as h1 "localops-h1" localops true; echo $(($(now_ns) - t)) >>"$WARDEN_SANDBOX/plain.ns"
done

# --- propagation -----------------------------------------------------------------------------
# A probe inside the host's namespace reports when a new adm-alice-* account appears through NSS
# (the path sshd, id and sudo take) and when its principals file, which sshd reads, is gone. It
# says "ready" once it polls; the clock starts after that (never timing an interpreter's
# start-up), and the probe itself is Debian's python3, not whatever python3 a version manager
# puts first on PATH.
probe_ready() {
  local i
  for i in $(seq 1000); do
    grep -q ready "$WARDEN_SANDBOX/probe.out" 2>/dev/null && return 0
    sleep 0.01
  done
  echo "the probe did not start" >&2
  return 1
}
probe() {
  in_host h1 /usr/bin/python3 - "$@" <<'PY'
import os, pwd, sys, time
mode, arg = sys.argv[1], sys.argv[2]
print("ready", flush=True)
if mode == "appear":
    before = set(arg.split(","))
    while True:
        names = [p.pw_name for p in pwd.getpwall() if p.pw_name.startswith("adm-alice-")]
        new = [n for n in names if n not in before]
        if new:
            print(time.time_ns(), new[0]); break
        time.sleep(0.002)
else:
    while os.path.exists(arg):
        time.sleep(0.002)
    print(time.time_ns())
PY
}
: >"$WARDEN_SANDBOX/appear.ns"
: >"$WARDEN_SANDBOX/revoke.ns"
for _ in $(seq "$grants"); do
  known=$(in_host h1 getent passwd | awk -F: '/^adm-alice-/{print $1}' | paste -sd, -)
  rid=$(wctl alice --json request --role tier0-linux-admin --reason bench --ttl 1h | json_field id)
  wctl bob approve "$rid" >/dev/null
  probe appear "${known:-none}" >"$WARDEN_SANDBOX/probe.out" &
  probe_ready
  t=$(now_ns)
  gid=$(wctl carol --json approve "$rid" | json_field grant_id)
  wait $!
  read -r seen name < <(sed -n 2p "$WARDEN_SANDBOX/probe.out")
  echo $((seen - t)) >>"$WARDEN_SANDBOX/appear.ns"
  probe vanish "$d/state/principals/$name" >"$WARDEN_SANDBOX/probe.out" &
  probe_ready
  t=$(now_ns)
  wctl bob revoke "$gid" >/dev/null
  wait $!
  echo $(($(sed -n 2p "$WARDEN_SANDBOX/probe.out") - t)) >>"$WARDEN_SANDBOX/revoke.ns"
done

echo "Warden host benchmark (2 cores; controller, wardend and sshd on this machine, loopback)"
echo
echo "login latency, sequential ssh logins running 'true':"
stats "certificate login, Warden account (NSS+PAM)" "$WARDEN_SANDBOX/warden.ns"
stats "plain key login, same Warden account" "$WARDEN_SANDBOX/warden_key.ns"
stats "plain key login, local account" "$WARDEN_SANDBOX/plain.ns"
w=$(p50 "$WARDEN_SANDBOX/warden.ns")
k=$(p50 "$WARDEN_SANDBOX/warden_key.ns")
p=$(p50 "$WARDEN_SANDBOX/plain.ns")
/usr/bin/python3 - "$w" "$k" "$p" <<'PY'
import sys
w, k, p = (int(x) for x in sys.argv[1:])
print(f"  added by Warden at p50: {(w-p)/1e6:.1f} ms ({w/p:.2f}x); target <= 5 ms")
print(f"    certificate path (CA check, KRL, AuthorizedPrincipalsFile): {(w-k)/1e6:.1f} ms")
print(f"    NSS, PAM account and session open (cgroup, recorder):      {(k-p)/1e6:.1f} ms")
PY
echo
echo "propagation over $grants grants (approve/revoke command issued -> effect seen on the host):"
stats "approve -> account resolves (getpwall)" "$WARDEN_SANDBOX/appear.ns"
stats "revoke -> principals file gone (sshd refuses)" "$WARDEN_SANDBOX/revoke.ns"
echo "  target: p50 < 500 ms"
