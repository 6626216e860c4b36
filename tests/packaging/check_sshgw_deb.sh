#!/usr/bin/env bash
# Builds warden-sshgw with packaging/build-deb.sh and checks what it holds: the gateway, its unit,
# its configuration as a conffile, its man page; lintian-clean (build-deb fails otherwise).
set -euo pipefail
root=$1
out=$(mktemp -d /tmp/warden-deb.XXXXXX)
trap 'rm -rf "$out"' EXIT
deb=$("$root/packaging/build-deb.sh" "$out" warden-sshgw 2>/dev/null)
contents=$(dpkg-deb -c "$deb")
for f in ./usr/sbin/warden-sshgw ./lib/systemd/system/warden-sshgw.service ./etc/warden/sshgw.yaml \
  ./usr/share/man/man8/warden-sshgw.8.gz ./usr/share/doc/warden-sshgw/ssh-gateway.md.gz; do
  grep -q " $f\$" <<<"$contents" || { echo "FAIL: $f missing from $deb"; exit 1; }
done
dpkg-deb -e "$deb" "$out/control"
grep -qx /etc/warden/sshgw.yaml "$out/control/conffiles" || { echo "FAIL: sshgw.yaml is not a conffile"; exit 1; }
grep -q "Depends:.*libssh" "$out/control/control" || { echo "FAIL: no computed Depends on libssh"; exit 1; }
# The unit starts the gateway with no capability but binding a low port.
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/warden-sshgw.service >"$out/warden-sshgw.service"
grep -qx 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' "$out/warden-sshgw.service" || { echo "FAIL: the unit keeps capabilities"; exit 1; }
# Not installed here, so its ExecStart and man page are missing; anything else is a mistake.
issues=$(systemd-analyze verify "$out/warden-sshgw.service" 2>&1 |
  grep -v -e "/usr/sbin/warden-sshgw is not executable" -e "Command 'man warden-sshgw(8)'" || true)
[ -z "$issues" ] || { echo "FAIL: systemd-analyze verify: $issues"; exit 1; }
echo "PASS $(basename "$deb"): $(grep -c . <<<"$contents") entries; lintian: $(grep -c . "$out/lintian.txt" || true) tags"
