#!/usr/bin/env bash
# Builds the warden-host Debian package (wardend, libnss_warden.so.2, pam_warden.so, the systemd
# unit, the default host.yaml) and checks it with lintian.
# Usage: packaging/build-deb.sh [OUTDIR]   (default: build/package); prints the .deb's path.
# WARDEN_PACKAGE_BUILD_DIR=DIR reuses an existing build tree instead of a hardened release build
# (the test suite does this to check the packaging without compiling everything again).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/package}
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$root/packaging/warden-host
build=${WARDEN_PACKAGE_BUILD_DIR:-$out/cmake}
stage=$out/stage
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
version=$(sed -n 's/^project(warden VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")

if [ -z "${WARDEN_PACKAGE_BUILD_DIR:-}" ]; then
  # Debian's hardening flags (fortify, stack protector, relro, bindnow).
  eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
  export CFLAGS="$CFLAGS $CPPFLAGS" CXXFLAGS="$CXXFLAGS $CPPFLAGS"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWARDEN_TESTS=OFF >/dev/null
fi
cmake --build "$build" --target wardend warden-principals pam_warden nss_warden >/dev/null
rm -rf "$stage"
DESTDIR=$stage cmake --install "$build" --component host --prefix /usr >/dev/null

install -D -m 0644 "$src/wardend.service" "$stage/lib/systemd/system/wardend.service"
install -D -m 0644 "$src/host.yaml" "$stage/etc/warden/host.yaml"
install -D -m 0644 "$src/warden-verify" "$stage/etc/pam.d/warden-verify"
doc=$stage/usr/share/doc/warden-host
install -D -m 0644 "$src/copyright" "$doc/copyright"
gzip -9n -c "$root/docs/host-agent.md" >"$doc/host-agent.md.gz"
printf 'warden (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- Warden developers <warden@example.org>  %s\n' \
  "$version" "$version" "$(date -R -d @"${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct)}")" |
  gzip -9n >"$doc/changelog.gz"
install -d "$stage/usr/share/man/man8"
gzip -9n -c "$src/wardend.8" >"$stage/usr/share/man/man8/wardend.8.gz"
for f in usr/sbin/wardend usr/lib/warden/warden-principals "lib/$multiarch/security/pam_warden.so" "lib/$multiarch/libnss_warden.so.2"; do
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/$f"
done
chmod 0644 "$stage/lib/$multiarch/libnss_warden.so.2" "$stage/lib/$multiarch/security/pam_warden.so"

# Runtime dependencies from the binaries' ELF NEEDED entries, as dpkg-shlibdeps computes them.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debian"
printf 'Source: warden\n\nPackage: warden-host\nArchitecture: any\n' >"$tmp/debian/control"
depends=$(cd "$tmp" && dpkg-shlibdeps -O "$stage/usr/sbin/wardend" "$stage/usr/lib/warden/warden-principals" \
  "$stage/lib/$multiarch/security/pam_warden.so" "$stage/lib/$multiarch/libnss_warden.so.2" 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')

install -d "$stage/DEBIAN"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends/" \
  "$src/control" >"$stage/DEBIAN/control"
for f in postinst prerm postrm; do install -m 0755 "$src/$f" "$stage/DEBIAN/$f"; done
install -m 0644 "$src/triggers" "$stage/DEBIAN/triggers"
printf '/etc/pam.d/warden-verify\n/etc/warden/host.yaml\n' >"$stage/DEBIAN/conffiles"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
  xargs -0 md5sum >DEBIAN/md5sums)

deb=$out/warden-host_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
lintian --fail-on error,warning "$deb" >"$out/lintian.txt" 2>&1 || {
  cat "$out/lintian.txt" >&2
  echo "build-deb: lintian found problems (above)" >&2
  exit 1
}
echo "$deb"
