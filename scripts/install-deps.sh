#!/usr/bin/env bash
# Installs every build, test and demo dependency of Warden from Debian 12's archive.
# Idempotent: packages already present are left as they are; apt-get update runs only when a
# package is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libssl-dev libsqlite3-dev sqlite3 libyaml-cpp-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev
  softhsm2 libsofthsm2 libp11-kit-dev opensc libnss-extrausers
  openssh-server openssh-client oathtool util-linux
  libpam0g-dev libsystemd-dev sudo pamtester lintian dpkg-dev fakeroot procps apt-utils gnupg systemd-container
  libbpf-dev bpftool libzstd-dev zstd liblz4-dev lz4 tmux bsdutils tlog python3
  libpq-dev postgresql-15 postgresql-client-15 libcurl4-openssl-dev libssh-dev
  slapd ldap-utils libldap-dev samba samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind
  freerdp2-dev freerdp2-shadow-x11 freerdp2-x11 winpr-utils xvfb x11-xserver-utils x11-apps libpng-dev
  openssl rsyslog rsyslog-gnutls libcpp-httplib-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# No package starts its service while installing (slapd, PostgreSQL, sshd): Warden's tests and
# demo run their own, sandboxed. A policy-rc.d already there is left as it is.
policy_rc=/usr/sbin/policy-rc.d
if [ ! -e "$policy_rc" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
  chmod 755 "$policy_rc"
  trap 'rm -f "$policy_rc"' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The package enables sshd system-wide; Warden's tests and demo start their own sandboxed sshd and
# never need the system one.
