#!/usr/bin/env bash
# warden-rdpgw against a direct connection to the same RDP target (FreeRDP's shadow server on a
# private X display running xeyes, which redraws when the pointer moves), side by side in one run
# (bench/rdp_client.cc):
#   input -> screen round trip, direct and through the gateway, p50/p99, interleaved; and by how
#   much the gateway's copy of each screen update trails the direct copy of the same update;
#   sessions: N sessions through the gateway, each moving the pointer 5 times a second: the
#   gateway's CPU and memory per session;
#   recording: an active 1920x1080 desktop (ico spinning, the pointer moving) for 30 s: recorded
#   bytes, per hour.
# Usage: bench/rdpgw_bench.sh [ROUNDS] [SESSIONS]   (root; WARDEN_BIN = build directory)
set -euo pipefail
rounds=${1:-200}
sessions=${2:-25}
# shellcheck source=sandbox_env.sh
source "$(dirname "$0")/sandbox_env.sh"
client=$WARDEN_BIN/bench/rdp_client
pw='Bench-Pw-1'

controller_init
rdp_target_start winadmin "$pw" "${RDP_BENCH_SIZE:-1920x1080}"
rdp_broker_role bench 0 bench "$RDP_TARGET_CERT" | policy_add_roles
controller_start
for u in alice bob carol admin; do login "$u" >/dev/null; done
echo -n "$pw" | wctl admin vault put kv/win1/admin >/dev/null
rdpgw_start rgw0 0
gw_pid=$(pgrep -f "$RDPGW --config $WARDEN_SANDBOX/rgw0/gateway.yaml serve" | head -1)
DISPLAY=$RDP_TARGET_DISPLAY setsid xeyes -geometry 400x300+0+0 >/dev/null 2>&1 &
SANDBOX_PIDS+=("$!")
G=$(grant_for bench 30m)

# tickets N FILE: N tickets of the grant, "user password" per line.
tickets() {
  local i
  for i in $(seq 1 "$1"); do
    wctl alice --json rdp ticket "$G" | python3 -c 'import json,sys; t=json.load(sys.stdin); print(t["user"], t["password"])'
  done >"$2"
}
calc() { python3 -c "print($1)"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

echo "== input -> screen round trip (pointer move -> xeyes redraw), $rounds rounds alternating"
tickets 1 "$WARDEN_SANDBOX/t1"
read -r d50 d99 g50 g99 l50 l99 < <("$client" latency "$rounds" "$RDP_TARGET_PORT" winadmin "$pw" "$RDPGW_PORT" "$WARDEN_SANDBOX/t1")
printf '  direct:   p50 %7.3f ms   p99 %7.3f ms\n' "$d50" "$d99"
printf '  gateway:  p50 %7.3f ms   p99 %7.3f ms   (+%.3f ms p50)\n' "$g50" "$g99" "$(calc "$g50 - $d50")"
printf '  the same screen update, gateway copy behind the direct one: p50 %.3f ms   p99 %.3f ms\n' "$l50" "$l99"
echo "  (both paths wait for the shadow server's capture timer; the trailing time isolates the gateway)"

echo "== $sessions sessions through the gateway, each moving the pointer every 200 ms, 20 s"
sleep 2
rss0=$(rss_kib "$gw_pid")
tickets "$sessions" "$WARDEN_SANDBOX/tn"
"$client" hold 26 200 "$RDPGW_PORT" "$WARDEN_SANDBOX/tn" >"$WARDEN_SANDBOX/hold.out" &
hold=$!
wait_for 60 grep -q "^$sessions\$" "$WARDEN_SANDBOX/hold.out" || { cat "$WARDEN_SANDBOX/hold.out"; exit 1; }
sleep 2
c0=$(cpu_ticks "$gw_pid")
sleep 20
c1=$(cpu_ticks "$gw_pid")
rss1=$(rss_kib "$gw_pid")
wait "$hold"
hz=$(getconf CLK_TCK)
cpu=$(calc "($c1 - $c0) / $hz / 20 * 100")
printf '  gateway CPU: %.1f%% of one core for %d sessions (%.2f%% each; %.0f sessions per core at this activity)\n' \
  "$cpu" "$sessions" "$(calc "$cpu / $sessions")" "$(calc "100 / ($cpu / $sessions)")"
printf '  gateway RSS: %.1f MiB idle, %.1f MiB with the sessions (%.2f MiB each)\n' \
  "$(calc "$rss0 / 1024")" "$(calc "$rss1 / 1024")" "$(calc "($rss1 - $rss0) / 1024 / $sessions")"

echo "== recording of an active ${RDP_BENCH_SIZE:-1920x1080} desktop (ico spinning, the pointer moving), 30 s"
DISPLAY=$RDP_TARGET_DISPLAY setsid ico -faces -sleep 0.04 -geometry 1280x800+300+200 >/dev/null 2>&1 &
SANDBOX_PIDS+=("$!")
tickets 1 "$WARDEN_SANDBOX/t2"
"$client" hold 30 200 "$RDPGW_PORT" "$WARDEN_SANDBOX/t2" >/dev/null
sid=$(wctl admin --json sessions | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
wait_for 30 sh -c "'$WARDENCTL' --home '$WARDEN_SANDBOX/home-admin' recordings verify '$sid'" || true
bytes=$(sqlite3 "$WARDEN_SANDBOX/controller/warden.db" "SELECT SUM(LENGTH(data)) FROM recording_chunks WHERE session_id = '$sid'")
printf '  %d bytes in 30 s: %.3f GB per hour\n' "$bytes" "$(calc "$bytes * 120 / 1000000000")"
