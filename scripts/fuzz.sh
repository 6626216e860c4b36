#!/usr/bin/env bash
# Runs every libFuzzer target for N seconds (default 20), seeded with real OpenSSH output.
# Usage: scripts/fuzz.sh [SECONDS]   (after scripts/build.sh fuzz; FUZZ_ONLY="krl ..." for a few)
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
mkdir -p "$work/public_key" "$work/certificate" "$work/krl" "$work/audit_log" "$work/nsscache" \
  "$work/agent_wire" "$work/recording_chunk" "$work/unseal_share" "$work/policy" "$work/sshgw_input" "$work/sftp" "$work/screen" \
  "$work/detection" "$work/inventory"
# A valid NSS cache (one user, one group with one member), laid out as common/nsscache.h says.
python3 - "$work/nsscache/seed" <<'PY'
import struct, sys
def fnv(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xffffffff
    return h
strings = b"adm-alice-7k2f\0gecos\0/home/a\0/bin/sh\0"
name, gecos, home, shell, uid = 0, 15, 21, 29, 2000001
hdr_size = 8 + 4 + 4 + 8 + 8 + 4 + 4 + 6 * 8 + 4 + 4 + 4 * 8
users_off = hdr_size
groups_off = users_off + 32
members_off = groups_off + 24
tables = [members_off + 8 + 8 * i for i in range(4)]  # 2 buckets each = 8 bytes
strings_off = tables[3] + 8
size = strings_off + len(strings)
hdr = b"WRDNSS1\0" + struct.pack("<IIQQIIQQQQQQIIQQQQ", 2, hdr_size, 1, size, 1, 1, users_off,
                                  groups_off, members_off, 1, strings_off, len(strings), 2, 2,
                                  *tables)
user = struct.pack("<6Iq", name, gecos, home, shell, uid, uid, 2**40)
group = struct.pack("<4Iq", name, uid, 0, 1, 2**40)
def table(h):
    t = [0, 0]
    t[h & 1] = 1
    return struct.pack("<2I", *t)
name_hash = fnv(b"adm-alice-7k2f")
id_hash = fnv(struct.pack("<I", uid))
blob = (hdr + user + group + struct.pack("<I4x", name) + table(name_hash) + table(id_hash) +
        table(name_hash) + table(id_hash) + strings)
assert len(blob) == size, (len(blob), size)
open(sys.argv[1], "wb").write(blob)
PY
for t in ed25519 ecdsa rsa; do
  cut -d' ' -f2 "$work/$t.pub" | base64 -d >"$work/public_key/$t"
  cp "$work/$t.pub" "$work/public_key/$t.line"
done
cut -d' ' -f2 "$work/ecdsa-cert.pub" | base64 -d >"$work/certificate/cert"
cp "$work/ecdsa-cert.pub" "$work/certificate/line"
cp "$work/seed.krl" "$work/krl/seed"
printf '{"seq":1,"prev":"%064d","type":"intent"}\n' 0 >"$work/audit_log/seed"
# An AgentResponse: verdict DENY, message "lease ended", session id "s-1", one principal.
printf '\x08\x02\x12\x0blease ended\x1a\x03s-1\x22\x01p' >"$work/agent_wire/seed"

# A recording chunk: RecordingEvents{output "hi" at 5 ns; exec /bin/ls ls} as one LZ4 frame that
# declares its size (what wardend writes), and as one zstd frame (what it wrote before).
printf '\x0a\x06\x08\x05\x12\x02hi\x0a\x0f\x32\x0d\x1a\x07/bin/ls\x22\x02ls' >"$work/events"
lz4 -q -c --content-size "$work/events" >"$work/recording_chunk/seed"
zstd -q -c "$work/events" >"$work/recording_chunk/seed-zstd"
# An unseal share as warden-controller init prints it (index 2 of set 0x1234abcd, 4 bytes).
python3 - "$work/unseal_share/seed" <<'PY'
import hashlib, sys
body = "wss1-1234abcd-02-00112233"
open(sys.argv[1], "w").write(body + "-" + hashlib.sha256(body.encode()).hexdigest()[:8] + "\n")
PY

# The example policy, and a rotation section over its database connection.
cp docs/examples/policy.yaml "$work/policy/example"
{
  cat docs/examples/policy.yaml
  printf 'rotation:\n  targets:\n    "db/appdb/r": {kind: postgres, connection: appdb, user: r, '
  printf 'period: 30d, jitter: 1d, password: {length: 16, classes: [digit, symbol], exclude: "#$"}}\n'
  printf '    "kv/h/db1/root": {kind: linux, host: db1, user: root}\n'
  printf '    "ad/bind": {kind: ad, url: "ldaps://dc1", dn: "CN=b,DC=x"}\n'
  printf '    "ad/svc": {kind: ad, url: "ldaps://dc1", dn: "CN=s,DC=x", admin: ad/bind}\n'
} >"$work/policy/rotation"
# A connection off loopback, with its TLS settings.
sed 's/^      host: 127.0.0.1$/      host: db1.example.org\n      sslmode: verify-ca\n      ca_file: \/etc\/warden\/db-ca.pem/' \
  docs/examples/policy.yaml >"$work/policy/tls"

# The gateway's input: a user name, then a password prompt from the target, a typed line with
# Enter and more typed after it (sshgw_input_fuzzer.cc: a length byte, high bit = output).
python3 - "$work/sshgw_input/seed" <<'PY'
import sys
def out(b): return bytes([0x80 | len(b)]) + b
def typed(b): return bytes([len(b)]) + b
open(sys.argv[1], "wb").write(b"bank-alice-7k2f@core\n" + out(b"$ sudo -k; sudo true\r\n[sudo] password for admin: ")
                              + typed(b"hunter2") + typed(b"\rls -l\r") + out(b"total 0\r\n$ "))
PY

# An SFTP put and get as OpenSSH's sftp sends them (sftp_fuzzer.cc: a length byte, high bit =
# from the server).
python3 - "$work/sftp/seed" <<'PY'
import struct, sys
def pkt(t, body): return struct.pack(">IB", len(body) + 1, t) + body
def s(b): return struct.pack(">I", len(b)) + b
def c(b): return bytes([len(b)]) + b
def srv(b): return bytes([0x80 | len(b)]) + b
out = c(pkt(1, struct.pack(">I", 3))) + c(pkt(3, struct.pack(">I", 7) + s(b"/tmp/up") + struct.pack(">II", 0x1a, 0)))
out += srv(pkt(102, struct.pack(">I", 7) + s(b"h1")))
out += c(pkt(6, struct.pack(">I", 8) + s(b"h1") + struct.pack(">Q", 0) + s(b"x" * 40)))
out += c(pkt(4, struct.pack(">I", 9) + s(b"h1"))) + c(pkt(18, struct.pack(">I", 10) + s(b"/a") + s(b"/b")))
out += c(pkt(5, struct.pack(">I", 11) + s(b"h1") + struct.pack(">QI", 0, 4096)))
out += srv(pkt(103, struct.pack(">I", 11) + s(b"d" * 50)))
open(sys.argv[1], "wb").write(out)
PY

# An RDP session's first screen, a 4x4 keyframe, and a 2x2 rectangle drawn over it
# (screen_fuzzer.cc: a RecordingEvents message).
python3 - "$work/screen/seed" <<'PY'
import subprocess, sys
def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out
def field(num, value): return varint(num << 3) + varint(value)
def blob(num, b): return varint(num << 3 | 2) + varint(len(b)) + b
def screen(x, y, w, h, key):
    z = subprocess.run(["zstd", "-q", "-c"], input=bytes(range(w * h * 4)), capture_output=True, check=True).stdout
    return blob(11, field(1, x) + field(2, y) + field(3, w) + field(4, h) + blob(5, z) + field(6, key) +
                field(7, 4) + field(8, 4))
ev = blob(1, field(1, 1) + screen(0, 0, 4, 4, 1)) + blob(1, field(1, 2) + screen(1, 1, 2, 2, 0))
open(sys.argv[1], "wb").write(ev)
PY

# Detection: a change windows file, a NUL, then audit events as the log writes them.
{
  printf 'windows:\n  - {id: CHG-1, start: 2026-12-01T08:00:00Z, end: 2026-12-01T12:00:00Z, tiers: [0]}\n'
  printf '\0'
  printf '{"actor":"alice","args":{"role":"t0"},"call":"AccessService.CreateRequest","seq":1,"ts":"2026-12-01T09:00:00Z","type":"intent"}\n'
  printf '{"actor":"alice","call":"AccessService.CreateRequest","code":"OK","intent":1,"result":{"id":"req-1","state":"pending"},"seq":2,"ts":"2026-12-01T09:00:00Z","type":"outcome"}\n'
  printf '{"actor":"bob","args":{"id":"req-1"},"call":"AccessService.ApproveRequest","seq":3,"ts":"2026-12-01T13:00:00Z","type":"intent"}\n'
  printf '{"actor":"bob","call":"AccessService.ApproveRequest","code":"OK","intent":3,"result":{"grant":"g-1","id":"req-1","state":"approved"},"seq":4,"ts":"2026-12-01T13:00:00Z","type":"outcome"}\n'
  printf '{"event":"recording.sealed","lost_bytes":5,"seq":5,"session":"s-1"}\nvisudo -f /etc/sudoers\n'
  printf '{"event":"host.login","kind":"bypass","tier":0,"user":"ops","hostname":"db1","seq":6}\n'
  printf '{"actor":"alice","args":{"path":"kv/t0/db"},"call":"VaultService.Get","seq":7,"type":"intent"}\n'
  printf '{"actor":"alice","call":"VaultService.Get","code":"OK","intent":7,"result":{"checked_out_until":9},"seq":8,"type":"outcome"}\n'
} >"$work/detection/seed"

# Inventory: passwd, group, shadow, sudoers, sshd_config and authorized_keys, NUL-separated.
{
  printf 'root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n\0'
  printf 'sudo:x:27:u\nops:x:2000:u\n\0'
  printf 'root:!:1::::::\nu:$6$s$h:1::::::\n\0'
  printf 'Defaults env_reset\n%%ops ALL=(ALL) \\\n NOPASSWD: ALL\n@includedir /etc/sudoers.d\n\0'
  printf 'AuthorizedKeysFile .ssh/authorized_keys %%h/.ssh/other\nMatch User u\n  AuthorizedKeysCommand /bin/x\n\0'
  printf 'from="10.0.0.0/8",command="a b" %s\n' "$(cat "$work/ed25519.pub")"
} >"$work/inventory/seed"

status=0
for f in ${FUZZ_ONLY:-public_key certificate krl audit_log nsscache agent_wire recording_chunk unseal_share policy sshgw_input sftp screen detection inventory}; do
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
