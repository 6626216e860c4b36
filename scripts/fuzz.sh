#!/usr/bin/env bash
# Runs every libFuzzer target for N seconds (default 20), seeded with real OpenSSH output.
# Usage: scripts/fuzz.sh [SECONDS]   (after scripts/build.sh fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
bin=build/fuzz/tests/fuzz
work=$(mktemp -d /tmp/warden-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Seeds: keys, a certificate and a KRL made by ssh-keygen, as raw wire bytes.
for t in ed25519 ecdsa rsa; do ssh-keygen -q -t "$t" -N '' -f "$work/$t"; done
ssh-keygen -q -s "$work/ed25519" -I seed -n p -z 7 -O source-address=10.0.0.0/8 "$work/ecdsa.pub"
printf 'serial: 1-9\nid: seed\n' >"$work/spec"
ssh-keygen -q -k -f "$work/seed.krl" -s "$work/ed25519.pub" "$work/spec"
mkdir -p "$work/public_key" "$work/certificate" "$work/krl" "$work/audit_log"
for t in ed25519 ecdsa rsa; do
  cut -d' ' -f2 "$work/$t.pub" | base64 -d >"$work/public_key/$t"
  cp "$work/$t.pub" "$work/public_key/$t.line"
done
cut -d' ' -f2 "$work/ecdsa-cert.pub" | base64 -d >"$work/certificate/cert"
cp "$work/ecdsa-cert.pub" "$work/certificate/line"
cp "$work/seed.krl" "$work/krl/seed"
printf '{"seq":1,"prev":"%064d","type":"intent"}\n' 0 >"$work/audit_log/seed"

status=0
for f in public_key certificate krl audit_log; do
  echo "== ${f}_fuzzer (${seconds}s)"
  mkdir -p build/fuzz/artifacts
  if ! "$bin/${f}_fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$PWD/build/fuzz/artifacts/${f}-" "$work/$f" >"$work/$f.log" 2>&1; then
    tail -40 "$work/$f.log"
    echo "crash input kept in build/fuzz/artifacts/"
    status=1
  else
    grep -E "^Done" "$work/$f.log" | tail -1
  fi
done
exit $status
