#!/usr/bin/env bash
# Builds warden-host with packaging/build-deb.sh and checks what it holds and what it would do.
set -euo pipefail
root=$1
out=$(mktemp -d /tmp/warden-deb.XXXXXX)
trap 'rm -rf "$out"' EXIT
deb=$("$root/packaging/build-deb.sh" "$out" warden-host 2>/dev/null)
contents=$(dpkg-deb -c "$deb")
for f in ./usr/sbin/wardend ./usr/lib/warden/warden-principals ./lib/x86_64-linux-gnu/libnss_warden.so.2 \
  ./lib/x86_64-linux-gnu/security/pam_warden.so ./lib/systemd/system/wardend.service \
  ./etc/warden/host.yaml ./etc/pam.d/warden-verify ./usr/share/man/man8/wardend.8.gz; do
  grep -q " $f\$" <<<"$contents" || { echo "FAIL: $f missing from $deb"; exit 1; }
done
dpkg-deb -e "$deb" "$out/control"
for f in /etc/warden/host.yaml /etc/pam.d/warden-verify; do
  grep -qx "$f" "$out/control/conffiles" || { echo "FAIL: $f is not a conffile"; exit 1; }
done
if grep -E 'nsswitch|sshd_config|pam\.d|configure-host' "$out/control/postinst" | grep -v '^#' | grep -qv echo; then
  echo "FAIL: postinst touches system configuration"; exit 1
fi
grep -q 'configure-host --revert' "$out/control/prerm" || { echo "FAIL: prerm does not revert configure-host"; exit 1; }
grep -q "Depends:.*libpam0g" "$out/control/control" || { echo "FAIL: no computed Depends"; exit 1; }
echo "PASS $(basename "$deb"): $(grep -c . <<<"$contents") entries; lintian: $(grep -c . "$out/lintian-warden-host.txt" || true) tags"
