#!/usr/bin/env bash
# Builds warden-gateway with packaging/build-deb.sh and checks what it holds: both gateways, their
# units, configurations as conffiles, man pages; lintian-clean (build-deb fails otherwise); units
# that keep no capability but binding a low port.
set -euo pipefail
root=$1
out=$(mktemp -d /tmp/warden-deb.XXXXXX)
trap 'rm -rf "$out"' EXIT
deb=$("$root/packaging/build-deb.sh" "$out" warden-gateway 2>/dev/null)
contents=$(dpkg-deb -c "$deb")
dpkg-deb -e "$deb" "$out/control"
for gw in sshgw rdpgw; do
  for f in ./usr/sbin/warden-$gw ./lib/systemd/system/warden-$gw.service ./etc/warden/$gw.yaml \
    ./usr/share/man/man8/warden-$gw.8.gz; do
    grep -q " $f\$" <<<"$contents" || { echo "FAIL: $f missing from $deb"; exit 1; }
  done
  grep -qx "/etc/warden/$gw.yaml" "$out/control/conffiles" || { echo "FAIL: $gw.yaml is not a conffile"; exit 1; }
  dpkg-deb --fsys-tarfile "$deb" | tar -xO "./lib/systemd/system/warden-$gw.service" >"$out/warden-$gw.service"
  grep -qx 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' "$out/warden-$gw.service" ||
    { echo "FAIL: warden-$gw.service keeps capabilities"; exit 1; }
  grep -qx 'Type=notify' "$out/warden-$gw.service" || { echo "FAIL: warden-$gw.service is not Type=notify"; exit 1; }
done
for lib in libssh libfreerdp; do
  grep -q "^Depends:.*$lib" "$out/control/control" || { echo "FAIL: no computed Depends on $lib"; exit 1; }
done
grep -q "^Replaces: warden-sshgw" "$out/control/control" || { echo "FAIL: warden-gateway does not replace warden-sshgw"; exit 1; }
echo "PASS $(basename "$deb"): $(grep -c . <<<"$contents") entries; lintian: $(grep -c . "$out/lintian-warden-gateway.txt" || true) tags"
