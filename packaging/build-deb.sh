#!/usr/bin/env bash
# Builds a Warden Debian package and checks it with lintian: warden-host (wardend,
# libnss_warden.so.2, pam_warden.so, the systemd unit, the default host.yaml) or warden-sshgw (the
# SSH gateway, its systemd unit, sshgw.yaml and man page).
# Usage: packaging/build-deb.sh [OUTDIR] [warden-host|warden-sshgw]   (default: build/package,
# warden-host); prints the .deb's path.
# WARDEN_PACKAGE_BUILD_DIR=DIR reuses an existing build tree instead of a hardened release build
# (the test suite does this to check the packaging without compiling everything again).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/package}
package=${2:-warden-host}
case "$package" in
  warden-host | warden-sshgw) ;;
  *) echo "build-deb: no package $package (warden-host, warden-sshgw)" >&2; exit 2 ;;
esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$root/packaging/$package
build=${WARDEN_PACKAGE_BUILD_DIR:-$out/cmake}
stage=$out/stage-$package
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
version=$(sed -n 's/^project(warden VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")

if [ -z "${WARDEN_PACKAGE_BUILD_DIR:-}" ]; then
  # Debian's hardening flags (fortify, stack protector, relro, bindnow).
  eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
  export CFLAGS="$CFLAGS $CPPFLAGS" CXXFLAGS="$CXXFLAGS $CPPFLAGS"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWARDEN_TESTS=OFF >/dev/null
fi

# docs DOC...: copyright, changelog and the named documents into usr/share/doc/PACKAGE.
docs() {
  local doc=$stage/usr/share/doc/$package f
  install -D -m 0644 "$src/copyright" "$doc/copyright"
  for f in "$@"; do gzip -9n -c "$root/docs/$f" >"$doc/$f.gz"; done
  printf 'warden (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- Warden developers <warden@example.org>  %s\n' \
    "$version" "$version" "$(date -R -d @"${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct)}")" |
    gzip -9n >"$doc/changelog.gz"
}

# finish CONFFILE... -- ELF...: DEBIAN/ (control with the Depends dpkg-shlibdeps computes from
# the ELF files' NEEDED entries, maintainer scripts, conffiles, md5sums), the .deb, lintian.
finish() {
  local conffiles=() f tmp depends deb
  while [ "$1" != "--" ]; do conffiles+=("$1"); shift; done
  shift
  tmp=$(mktemp -d)
  mkdir -p "$tmp/debian"
  printf 'Source: warden\n\nPackage: %s\nArchitecture: any\n' "$package" >"$tmp/debian/control"
  depends=$(cd "$tmp" && dpkg-shlibdeps -O "$@" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
  rm -rf "$tmp"
  install -d "$stage/DEBIAN"
  sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends/" \
    "$src/control" >"$stage/DEBIAN/control"
  for f in postinst prerm postrm; do
    if [ -e "$src/$f" ]; then install -m 0755 "$src/$f" "$stage/DEBIAN/$f"; fi
  done
  if [ -e "$src/triggers" ]; then install -m 0644 "$src/triggers" "$stage/DEBIAN/triggers"; fi
  printf '%s\n' "${conffiles[@]}" >"$stage/DEBIAN/conffiles"
  (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
    xargs -0 md5sum >DEBIAN/md5sums)
  deb=$out/${package}_${version}_${arch}.deb
  dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
  lintian --fail-on error,warning "$deb" >"$out/lintian.txt" 2>&1 || {
    cat "$out/lintian.txt" >&2
    echo "build-deb: lintian found problems (above)" >&2
    exit 1
  }
  echo "$deb"
}

rm -rf "$stage"
install -d "$stage/usr/share/man/man8"
if [ "$package" = warden-sshgw ]; then
  cmake --build "$build" --target warden-sshgw >/dev/null
  DESTDIR=$stage cmake --install "$build" --component sshgw --prefix /usr >/dev/null
  install -D -m 0644 "$src/warden-sshgw.service" "$stage/lib/systemd/system/warden-sshgw.service"
  install -D -m 0644 "$src/sshgw.yaml" "$stage/etc/warden/sshgw.yaml"
  docs ssh-gateway.md
  gzip -9n -c "$src/warden-sshgw.8" >"$stage/usr/share/man/man8/warden-sshgw.8.gz"
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/sbin/warden-sshgw"
  finish /etc/warden/sshgw.yaml -- "$stage/usr/sbin/warden-sshgw"
  exit 0
fi

cmake --build "$build" --target wardend warden-principals pam_warden nss_warden >/dev/null
DESTDIR=$stage cmake --install "$build" --component host --prefix /usr >/dev/null
install -D -m 0644 "$src/wardend.service" "$stage/lib/systemd/system/wardend.service"
install -D -m 0644 "$src/host.yaml" "$stage/etc/warden/host.yaml"
install -D -m 0644 "$src/warden-verify" "$stage/etc/pam.d/warden-verify"
docs host-agent.md coverage.md
gzip -9n -c "$src/wardend.8" >"$stage/usr/share/man/man8/wardend.8.gz"
for f in usr/sbin/wardend usr/lib/warden/warden-principals "lib/$multiarch/security/pam_warden.so" "lib/$multiarch/libnss_warden.so.2"; do
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/$f"
done
chmod 0644 "$stage/lib/$multiarch/libnss_warden.so.2" "$stage/lib/$multiarch/security/pam_warden.so"
finish /etc/pam.d/warden-verify /etc/warden/host.yaml -- "$stage/usr/sbin/wardend" \
  "$stage/usr/lib/warden/warden-principals" "$stage/lib/$multiarch/security/pam_warden.so" \
  "$stage/lib/$multiarch/libnss_warden.so.2"
