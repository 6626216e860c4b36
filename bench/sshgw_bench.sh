#!/usr/bin/env bash
# warden-sshgw against a direct ssh to the same sshd (the password-only appliance stand-in the
# e2e tests use), side by side in one run:
#   keystroke round trip: a byte typed -> its echo from the target's pty, p50/p99, interleaved;
#   session set-up: `ssh ... true` to completion, p50/p90;
#   bulk: `head -c SIZE /dev/zero` streamed to the client, MB/s;
#   concurrency: N idle sessions open through the gateway: its CPU while they idle, its memory,
#                and the keystroke round trip of one more session beside them.
# The vault path has no check-out, so no rotation runs between sessions.
# Usage: bench/sshgw_bench.sh [KEYSTROKES] [IDLE_SESSIONS]   (root; WARDEN_BIN = build directory)
set -euo pipefail
keys=${1:-400}
idle=${2:-100}
# shellcheck source=sandbox_env.sh
source "$(dirname "$0")/sandbox_env.sh"

controller_init
appliance_start bench-pw
policy_add_roles <<'PY'
  bench:
    tier: 0
    login: "bench-{{user}}"
    requesters: [operators]
    approvals: {count: 2, groups: [approvers]}
    extensions: {allowed: [permit-pty], default: [permit-pty]}
    broker: {target: core, credential: kv/bench/core}
PY
sed -i 's|^    "kv/appliance/\*":$|    "kv/bench/*":\n      read: [admins]\n      write: [admins]\n&|' "$WARDEN_SANDBOX/controller/policy.yaml"
{
  printf 'rotation:\n  targets:\n'
  appliance_target kv/bench/core appadmin "$APPLIANCE_KEY"
} >>"$WARDEN_SANDBOX/controller/policy.yaml"
controller_start
for u in alice bob carol admin; do login "$u" >/dev/null; done
echo -n bench-pw | wctl admin vault put kv/bench/core >/dev/null
sshgw_start gw0 0
g=$(grant_for bench 1h)
account=$(wctl alice --json grants | json_field login)
new_key op
wctl alice cert sign --grant "$g" -i "$WARDEN_SANDBOX/op" >/dev/null
printf '#!/bin/sh\necho bench-pw\n' >"$WARDEN_SANDBOX/askpass"
chmod 700 "$WARDEN_SANDBOX/askpass"
common="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ControlMaster=no"
direct="env SSH_ASKPASS=$WARDEN_SANDBOX/askpass SSH_ASKPASS_REQUIRE=force ssh $common -o PreferredAuthentications=password -o PubkeyAuthentication=no -p $APPLIANCE_PORT appadmin@127.0.0.1"
via="ssh $common -i $WARDEN_SANDBOX/op -o CertificateFile=$WARDEN_SANDBOX/op-cert.pub -o IdentitiesOnly=yes -p $SSHGW_PORT -l $account@core 127.0.0.1"

echo "warden-sshgw vs direct ssh to the same sshd ($(nproc) cores)"
python3 - "$keys" "$direct" "$via" <<'PY'
import os, pty, select, shlex, statistics, subprocess, sys, time
keys = int(sys.argv[1])
direct, via = shlex.split(sys.argv[2]), shlex.split(sys.argv[3])

def spawn(cmd):
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd + ["-tt", "cat"])
    return pid, fd

def read_until(fd, want, timeout=10):
    buf = b""
    end = time.monotonic() + timeout
    while want not in buf:
        r, _, _ = select.select([fd], [], [], max(0, end - time.monotonic()))
        if not r:
            raise SystemExit(f"timed out waiting for {want!r}; got {buf[-200:]!r}")
        buf += os.read(fd, 65536)
    return buf

def ready(fd):
    os.write(fd, b"ready\r")
    read_until(fd, b"ready\r\nready")

sessions = {"direct": spawn(direct), "gateway": spawn(via)}
for name, (pid, fd) in sessions.items():
    ready(fd)
samples = {name: [] for name in sessions}
for i in range(keys):
    for name, (pid, fd) in sessions.items():
        ch = bytes([97 + i % 26])
        t = time.perf_counter_ns()
        os.write(fd, ch)
        read_until(fd, ch)
        samples[name].append((time.perf_counter_ns() - t) / 1e6)
        if i % 40 == 39:
            os.write(fd, b"\r")
            read_until(fd, b"\n")
            time.sleep(0.002)
def pct(v, p): return sorted(v)[min(len(v) - 1, int(p * len(v)))]
d, g = samples["direct"], samples["gateway"]
print(f"  keystroke round trip  direct  p50 {pct(d, .5):6.3f} ms  p99 {pct(d, .99):6.3f} ms   (n={keys})")
print(f"                        gateway p50 {pct(g, .5):6.3f} ms  p99 {pct(g, .99):6.3f} ms")
print(f"                        added   p50 {pct(g, .5) - pct(d, .5):6.3f} ms  p99 {pct(g, .99) - pct(d, .99):6.3f} ms"
      f"   (target: <= 2 ms added at p50)")
for name, (pid, fd) in sessions.items():
    os.kill(pid, 15)
    os.waitpid(pid, 0)

def timed(cmd, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        out.append((time.perf_counter() - t) * 1000)
    return out
sd, sg = [], []
for _ in range(10):
    sd += timed(direct + ["true"], 1)
    sg += timed(via + ["true"], 1)
print(f"  session set-up        direct  p50 {pct(sd, .5):6.1f} ms  p90 {pct(sd, .9):6.1f} ms   (n=10, to the command's end)")
print(f"                        gateway p50 {pct(sg, .5):6.1f} ms  p90 {pct(sg, .9):6.1f} ms   ({pct(sg, .5) / pct(sd, .5):.2f}x)")
size = 256 << 20
bd, bg = [], []
for _ in range(3):
    for cmd, acc in ((direct, bd), (via, bg)):
        t = timed(cmd + [f"head -c {size} /dev/zero"], 1)[0]
        acc.append(size / (1 << 20) / (t / 1000))
print(f"  bulk 256 MiB          direct  {max(bd):7.1f} MB/s   gateway {max(bg):7.1f} MB/s   "
      f"({max(bg) / max(bd) * 100:.0f}% of direct; target >= 80%)")
PY

# Concurrency: IDLE sessions held open through the gateway (exec channels sleeping).
gw_pid=$(pgrep -f "$SSHGW --config $WARDEN_SANDBOX/gw0/gateway.yaml serve" | head -1)
rss() { awk '/VmRSS/{print $2}' "/proc/$gw_pid/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$gw_pid/stat"; }
rss0=$(rss)
before=$(grep -c "from 127.0.0.1 to core" "$WARDEN_SANDBOX/gw0/sshgw.log")
pids=()
for i in $(seq 1 "$idle"); do
  $via "sleep 3600" </dev/null >/dev/null 2>&1 &
  pids+=($!)
  # The appliance's sshd takes at most 10 unauthenticated connections at once (MaxStartups).
  [ $((i % 8)) -eq 0 ] && sleep 0.3
done
open_sessions() { grep -c "from 127.0.0.1 to core" "$WARDEN_SANDBOX/gw0/sshgw.log"; }
for _ in $(seq 1 150); do [ "$(open_sessions)" -ge $((idle + before)) ] && break; sleep 0.2; done
sleep 2
t0=$(cpu_ticks)
sleep 10
t1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
python3 - "$keys" "$via" <<PY
import os, pty, select, shlex, sys, time
via = shlex.split(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(via[0], via + ["-tt", "cat"])
def read_until(want):
    buf = b""
    while want not in buf:
        r, _, _ = select.select([fd], [], [], 10)
        if not r: raise SystemExit("timed out")
        buf += os.read(fd, 65536)
os.write(fd, b"ready\r"); read_until(b"ready\r\nready")
v = []
for i in range(200):
    ch = bytes([97 + i % 26]); t = time.perf_counter_ns(); os.write(fd, ch); read_until(ch)
    v.append((time.perf_counter_ns() - t) / 1e6)
    if i % 40 == 39: os.write(fd, b"\r"); read_until(b"\n")
v.sort()
print(f"  {$idle} idle sessions open: gateway CPU {($t1 - $t0) / $hz / 10 * 100:.1f}% of one core while they idle, "
      f"RSS {$rss0 / 1024:.1f} -> {$(rss) / 1024:.1f} MiB; one more session's keystroke p50 {v[len(v)//2]:.3f} ms, p99 {v[int(len(v)*.99)]:.3f} ms")
os.kill(pid, 15)
PY
kill "${pids[@]}" 2>/dev/null || true
wait 2>/dev/null || true
