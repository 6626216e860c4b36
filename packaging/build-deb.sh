#!/usr/bin/env bash
# Builds Warden's Debian packages and checks each with lintian (errors and warnings fail):
#   warden-host        wardend, libnss_warden.so.2, pam_warden.so, wardend.service, host.yaml
#   warden-controller  warden-controller, its unit (own system user, no capabilities)
#   wardenctl          the command-line client
#   warden-gateway     warden-sshgw and warden-rdpgw, their units and configurations
# Usage: packaging/build-deb.sh [OUTDIR] [PACKAGE...]   (default: build/package, every package);
# prints each .deb's path.
# WARDEN_PACKAGE_BUILD_DIR=DIR reuses an existing build tree instead of a hardened release build
# (the test suite does this to check the packaging without compiling everything again).
# WARDEN_PACKAGE_VERSION=V gives the packages another version than CMakeLists.txt's (the upgrade
# test builds an older one this way).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/package}
shift || true
all=(warden-host warden-controller wardenctl warden-gateway)
packages=("$@")
[ ${#packages[@]} -gt 0 ] || packages=("${all[@]}")
for package in "${packages[@]}"; do
  case " ${all[*]} " in
    *" $package "*) ;;
    *) echo "build-deb: no package $package (${all[*]})" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
build=${WARDEN_PACKAGE_BUILD_DIR:-$out/cmake}
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
version=${WARDEN_PACKAGE_VERSION:-$(sed -n 's/^project(warden VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")}

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

# man SECTION PAGE...: the package's man pages, compressed.
man() {
  local section=$1 page
  shift
  install -d "$stage/usr/share/man/man$section"
  for page in "$@"; do gzip -9n -c "$src/$page" >"$stage/usr/share/man/man$section/$page.gz"; done
}

# unit UNIT...: systemd units into /lib/systemd/system.
unit() {
  local u
  for u in "$@"; do install -D -m 0644 "$src/$u" "$stage/lib/systemd/system/$u"; done
}

# strip_elf FILE...: no debug info or build notes in the package.
strip_elf() {
  local f
  for f in "$@"; do strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/$f"; done
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
  depends=$(cd "$tmp" && dpkg-shlibdeps -O "${@/#/$stage/}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
  rm -rf "$tmp"
  install -d "$stage/DEBIAN"
  sed -e "s/@VERSION@/$version/g" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends/" \
    "$src/control" >"$stage/DEBIAN/control"
  for f in postinst prerm postrm; do
    if [ -e "$src/$f" ]; then install -m 0755 "$src/$f" "$stage/DEBIAN/$f"; fi
  done
  if [ -e "$src/triggers" ]; then install -m 0644 "$src/triggers" "$stage/DEBIAN/triggers"; fi
  if [ ${#conffiles[@]} -gt 0 ]; then printf '%s\n' "${conffiles[@]}" >"$stage/DEBIAN/conffiles"; fi
  (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
    xargs -0 md5sum >DEBIAN/md5sums)
  deb=$out/${package}_${version}_${arch}.deb
  dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
  lintian --fail-on error,warning "$deb" >"$out/lintian-$package.txt" 2>&1 || {
    cat "$out/lintian-$package.txt" >&2
    echo "build-deb: lintian found problems in $package (above)" >&2
    exit 1
  }
  echo "$deb"
}

for package in "${packages[@]}"; do
  src=$root/packaging/$package
  stage=$out/stage-$package
  rm -rf "$stage"
  case "$package" in
    warden-host)
      cmake --build "$build" --target wardend warden-principals pam_warden nss_warden >/dev/null
      DESTDIR=$stage cmake --install "$build" --component host --prefix /usr >/dev/null
      unit wardend.service
      install -D -m 0644 "$src/host.yaml" "$stage/etc/warden/host.yaml"
      install -D -m 0644 "$src/warden-verify" "$stage/etc/pam.d/warden-verify"
      docs host-agent.md coverage.md install.md
      man 8 wardend.8
      strip_elf usr/sbin/wardend usr/lib/warden/warden-principals \
        "lib/$multiarch/security/pam_warden.so" "lib/$multiarch/libnss_warden.so.2"
      chmod 0644 "$stage/lib/$multiarch/libnss_warden.so.2" "$stage/lib/$multiarch/security/pam_warden.so"
      finish /etc/pam.d/warden-verify /etc/warden/host.yaml -- usr/sbin/wardend \
        usr/lib/warden/warden-principals "lib/$multiarch/security/pam_warden.so" \
        "lib/$multiarch/libnss_warden.so.2"
      ;;
    warden-controller)
      cmake --build "$build" --target warden-controller >/dev/null
      DESTDIR=$stage cmake --install "$build" --component controller --prefix /usr >/dev/null
      unit warden-controller.service
      docs operator-guide.md install.md
      man 8 warden-controller.8
      strip_elf usr/sbin/warden-controller
      finish -- usr/sbin/warden-controller
      ;;
    wardenctl)
      cmake --build "$build" --target wardenctl >/dev/null
      DESTDIR=$stage cmake --install "$build" --component cli --prefix /usr >/dev/null
      docs operator-guide.md
      man 1 wardenctl.1
      strip_elf usr/bin/wardenctl
      finish -- usr/bin/wardenctl
      ;;
    warden-gateway)
      cmake --build "$build" --target warden-sshgw warden-rdpgw >/dev/null
      DESTDIR=$stage cmake --install "$build" --component sshgw --prefix /usr >/dev/null
      DESTDIR=$stage cmake --install "$build" --component rdpgw --prefix /usr >/dev/null
      unit warden-sshgw.service warden-rdpgw.service
      install -D -m 0644 "$src/sshgw.yaml" "$stage/etc/warden/sshgw.yaml"
      install -D -m 0644 "$src/rdpgw.yaml" "$stage/etc/warden/rdpgw.yaml"
      docs ssh-gateway.md rdp-gateway.md
      man 8 warden-sshgw.8 warden-rdpgw.8
      strip_elf usr/sbin/warden-sshgw usr/sbin/warden-rdpgw
      finish /etc/warden/sshgw.yaml /etc/warden/rdpgw.yaml -- usr/sbin/warden-sshgw usr/sbin/warden-rdpgw
      ;;
  esac
done
