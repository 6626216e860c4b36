#!/usr/bin/env bash
# Installs Warden the way a fleet does, on a real systemd, and upgrades and removes it:
#  - every package is built twice (an older version and this one) and put into a signed apt
#    repository with a key made here; a repository signed by another key is refused;
#  - a machine boots under systemd-nspawn with systemd as PID 1, its root an overlay of this
#    machine's / (nothing here changes; everything lives in this script's mount namespace);
#  - apt installs the older packages from the repository (the two lines of docs/install.md);
#    the units pass `systemd-analyze verify` and score "OK" or better in `systemd-analyze
#    security`; the controller is initialised and started as its own user, a host enrolls, is
#    configured, runs wardend under its sandbox and reports its inventory;
#  - wardend's watchdog: frozen, systemd restarts it;
#  - `apt-get upgrade` to this version: the controller migrates and comes back with its data, the
#    host keeps its enrollment, its state and an edited host.yaml;
#  - removal reverts configure-host, and root still passes the sshd PAM stack.
# Usage: install_test.sh SOURCE_DIR   (root; WARDEN_PACKAGE_BUILD_DIR: an existing build tree)
set -euo pipefail
src=$1
if [ -z "${WARDEN_INSTALL_TEST_NS:-}" ]; then
  WARDEN_INSTALL_TEST_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d /tmp/warden-install.XXXXXX)
nspawn_pid=
cleanup() {
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$nspawn_pid" 2>/dev/null || true
  fi
  umount -R "$T/root" 2>/dev/null || true
  umount -R "$T/overlay" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
wait_for() {
  local n=$1
  shift
  for _ in $(seq "$((n * 5))"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

# --- packages, two versions, and the signed repository ---
version=$(sed -n 's/^project(warden VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
old="$version~prev1"
WARDEN_PACKAGE_VERSION=$old "$src/packaging/build-deb.sh" "$T/old" >"$T/old.list"
"$src/packaging/build-deb.sh" "$T/new" >"$T/new.list"
[ "$(wc -l <"$T/old.list")" -eq 4 ] && [ "$(wc -l <"$T/new.list")" -eq 4 ] || fail "not every package was built"

export GNUPGHOME=$T/gnupg
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --passphrase '' --quick-gen-key 'Warden test repository <repo@example.org>' ed25519 sign never 2>/dev/null
gpg --batch --passphrase '' --quick-gen-key 'Someone else <evil@example.org>' ed25519 sign never 2>/dev/null
key=$(gpg --batch --with-colons --list-secret-keys repo@example.org | awk -F: '/^fpr/{print $10; exit}')
other=$(gpg --batch --with-colons --list-secret-keys evil@example.org | awk -F: '/^fpr/{print $10; exit}')
mapfile -t old_debs <"$T/old.list"
mapfile -t new_debs <"$T/new.list"
"$src/packaging/build-repo.sh" "$T/repo" "$key" "${old_debs[@]}"
"$src/packaging/build-repo.sh" "$T/evil" "$other" "${new_debs[@]}" >/dev/null
[ -s "$T/repo/dists/stable/InRelease" ] || fail "the repository has no InRelease"

# --- a machine under systemd, its root an overlay of this one's ---
mkdir -p "$T/overlay" "$T/root"
mount -t tmpfs tmpfs "$T/overlay"
mkdir -p "$T/overlay/upper" "$T/overlay/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/overlay/upper,workdir=$T/overlay/work" "$T/root"
# Only what the test needs starts in there (this machine's packages include servers).
for u in postgresql slapd samba-ad-dc smbd nmbd winbind rsyslog ssh cron xrdp xrdp-sesman \
  apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer dpkg-db-backup.timer \
  systemd-tmpfiles-clean.timer console-getty; do
  case "$u" in *.*) ;; *) u=$u.service ;; esac
  ln -sf /dev/null "$T/root/etc/systemd/system/$u"
done
rm -f "$T/root/etc/apt/sources.list" "$T/root/etc/apt/sources.list.d/"*
# nspawn keeps its own runtime files on a tmpfs (on a machine that never ran systemd, /run is
# not one); it lives in this namespace only.
mkdir -p /run/systemd/nspawn
mount -t tmpfs tmpfs /run/systemd/nspawn
tracefs=()
[ -d /sys/kernel/tracing/events ] && tracefs=(--bind-ro=/sys/kernel/tracing)
systemd-nspawn --register=no --keep-unit --link-journal=no --quiet -D "$T/root" \
  --uuid="$(cat /proc/sys/kernel/random/uuid)" --machine=warden-install \
  --bind-ro="$T/repo:/srv/warden-repo" --bind-ro="$T/evil:/srv/evil-repo" "${tracefs[@]}" \
  --capability=CAP_BPF,CAP_PERFMON --system-call-filter='bpf perf_event_open' \
  --boot -- systemd.unit=multi-user.target >"$T/boot.log" 2>&1 </dev/null &
nspawn_pid=$!
leader() { ps -o pid= --ppid "$nspawn_pid" | awk '{print $1; exit}'; }
has_leader() { [ -n "$(leader)" ]; }
wait_for 30 has_leader || fail "the container did not start: $(tail -5 "$T/boot.log")"
active() { [ "$(ct systemctl is-active "$1")" = active ]; }
ct() { nsenter -t "$(leader)" -m -u -i -n -p -C -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
booted() { case "$(ct systemctl is-system-running 2>/dev/null)" in running | degraded) return 0 ;; esac; return 1; }
wait_for 60 booted || fail "the container's systemd did not finish booting: $(ct systemctl is-system-running 2>&1; tail -5 "$T/boot.log")"
state=$(ct systemctl is-system-running || true)
echo "  ok: a machine booted under systemd ($state)"

apt_warden() {
  ct apt-get -q -o Dir::Etc::sourcelist=/etc/apt/sources.list.d/warden.list -o Dir::Etc::sourceparts=- \
    -o APT::Get::List-Cleanup=0 "$@"
}

# A repository signed by another key is refused.
ct install -m 0644 /srv/warden-repo/warden-archive-keyring.gpg /usr/share/keyrings/warden-archive-keyring.gpg
ct sh -c 'echo "deb [signed-by=/usr/share/keyrings/warden-archive-keyring.gpg] file:/srv/evil-repo stable main" >/etc/apt/sources.list.d/warden.list'
if apt_warden update >"$T/evil.out" 2>&1 && ! grep -q "NO_PUBKEY\|not signed" "$T/evil.out"; then
  fail "apt accepted a repository signed by another key: $(cat "$T/evil.out")"
fi
grep -q "NO_PUBKEY" "$T/evil.out" || fail "apt's refusal does not name the key: $(cat "$T/evil.out")"
echo "  ok: a repository signed by another key is refused (NO_PUBKEY)"

# The two lines of docs/install.md (the key from the repository, then the source).
ct sh -c 'echo "deb [signed-by=/usr/share/keyrings/warden-archive-keyring.gpg] file:/srv/warden-repo stable main" >/etc/apt/sources.list.d/warden.list'
apt_warden update >"$T/update.out" 2>&1 || fail "apt-get update: $(cat "$T/update.out")"
apt_warden install -y warden-host warden-controller wardenctl warden-gateway >"$T/install.out" 2>&1 ||
  fail "apt-get install: $(tail -20 "$T/install.out")"
for p in warden-host warden-controller wardenctl warden-gateway; do
  [ "$(ct dpkg-query -W -f='${Version}' "$p")" = "$old" ] || fail "$p $old is not installed"
done
echo "  ok: apt installed the four packages ($old) from the signed repository"

# --- files, users, units ---
for f in /usr/sbin/wardend /usr/sbin/warden-controller /usr/bin/wardenctl /usr/sbin/warden-sshgw \
  /usr/sbin/warden-rdpgw /etc/warden/host.yaml /etc/warden/sshgw.yaml /etc/warden/rdpgw.yaml \
  /usr/share/man/man8/warden-controller.8.gz /usr/share/man/man1/wardenctl.1.gz; do
  ct test -e "$f" || fail "$f is not installed"
done
ct getent passwd warden-controller | grep -q ':/var/lib/warden-controller:/usr/sbin/nologin$' ||
  fail "no warden-controller system user: $(ct getent passwd warden-controller)"
[ "$(ct stat -c '%U %a' /var/lib/warden-controller)" = "warden-controller 700" ] ||
  fail "/var/lib/warden-controller: $(ct stat -c '%U %a' /var/lib/warden-controller)"
units=(wardend warden-controller warden-sshgw warden-rdpgw)
for u in "${units[@]}"; do
  out=$(ct systemd-analyze verify "/lib/systemd/system/$u.service" 2>&1) || fail "systemd-analyze verify $u: $out"
  [ -z "$out" ] || fail "systemd-analyze verify $u: $out"
done
scores=""
for u in "${units[@]}"; do
  line=$(ct systemd-analyze security --no-pager "$u.service" | tail -1)
  score=$(sed -n 's/.*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' <<<"$line")
  case "$score" in *" OK" | *" SAFE") ;; *) fail "$u.service is not OK in systemd-analyze security: $line" ;; esac
  scores="$scores $u $score;"
done
echo "  ok: units verified; systemd-analyze security:$scores"

# --- the controller, as its own user under its sandbox ---
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ct runuser -u warden-controller -- warden-controller init --data-dir /var/lib/warden-controller \
  --listen "127.0.0.1:$port" --server-name 127.0.0.1 >"$T/init.out" || fail "init: $(cat "$T/init.out")"
ct systemctl enable --now warden-controller.service >/dev/null 2>&1 || true
[ "$(ct systemctl is-active warden-controller)" = active ] ||
  fail "warden-controller is not active: $(ct journalctl -u warden-controller --no-pager | tail -20)"
[ "$(ct systemctl show -p WatchdogUSec --value warden-controller)" = 30s ] || fail "no watchdog on warden-controller"
pass=$(awk '/password:/{print $2}' "$T/init.out")
totp=$(awk '/TOTP secret:/{print $3}' "$T/init.out")
ct sh -c "WARDEN_PASSWORD='$pass' wardenctl --home /root/.warden login --controller 127.0.0.1:$port \
  --ca-file /var/lib/warden-controller/tls/ca.crt --user admin --otp $(oathtool --totp -b "$totp")" >/dev/null ||
  fail "the admin cannot log in to the packaged controller"
echo "  ok: the controller runs as warden-controller (no capabilities), ready and watched; the admin logs in"

# --- a host: enroll, configure, wardend under its sandbox ---
token=$(ct wardenctl --home /root/.warden host token create --tier 1 --hostname install-test --ttl 10m)
ct cp /var/lib/warden-controller/tls/ca.crt /etc/warden/ca.crt
ct wardend enroll --controller "127.0.0.1:$port" --token "$token" --ca-file /etc/warden/ca.crt \
  --hostname install-test >/dev/null || fail "wardend enroll failed"
ct wardend configure-host >/dev/null || fail "wardend configure-host failed"
ct grep -q 'warden' /etc/nsswitch.conf || fail "configure-host did not add warden to nsswitch.conf"
ct systemctl enable --now wardend.service >/dev/null 2>&1 || true
[ "$(ct systemctl is-active wardend)" = active ] ||
  fail "wardend is not active: $(ct journalctl -u wardend --no-pager | tail -20)"
reported() {
  ct wardenctl --home /root/.warden --json coverage |
    python3 -c 'import json, sys; sys.exit(0 if any(g["hosts_reporting"] for g in json.load(sys.stdin)["groups"]) else 1)'
}
wait_for 30 reported || fail "wardend under its sandbox did not report its inventory: $(ct journalctl -u wardend --no-pager | tail -20)"
journal=$(ct journalctl -u wardend --no-pager -o cat)
if grep -E "recording unavailable|cannot|denied|not permitted|Read-only" <<<"$journal"; then
  fail "wardend under its sandbox could not do its work (above)"
fi
for said in "sessions are confined in cgroups" "serving /run/warden/agent.sock" "applied revision"; do
  grep -q "$said" <<<"$journal" || fail "wardend under its sandbox never said '$said': $journal"
done
echo "  ok: the host enrolled; wardend runs under its sandbox (recorder loaded, inventory reported)"

# A frozen wardend stops its pings; systemd restarts it.
ct mkdir -p /run/systemd/system/wardend.service.d
ct sh -c 'printf "[Service]\nWatchdogSec=2s\n" >/run/systemd/system/wardend.service.d/watchdog.conf'
ct systemctl daemon-reload
ct systemctl restart wardend
frozen=$(ct systemctl show -p MainPID --value wardend)
ct kill -STOP "$frozen"
restarted() { [ "$(ct systemctl show -p NRestarts --value wardend)" -ge 1 ] && [ "$(ct systemctl is-active wardend)" = active ]; }
wait_for 30 restarted || fail "a frozen wardend was not restarted by the watchdog"
ct journalctl -u wardend --no-pager | grep -q "Watchdog timeout" || fail "the restart was not the watchdog's"
ct rm -r /run/systemd/system/wardend.service.d
ct systemctl daemon-reload
echo "  ok: a frozen wardend missed its watchdog and was restarted"

# --- upgrade with apt-get upgrade ---
ct sh -c 'echo "# edited by the site" >>/etc/warden/host.yaml'
enrollment=$(ct sha256sum /var/lib/warden/enrollment.json)
wait_for 30 active wardend || fail "wardend is not running before the upgrade"
old_wardend=$(ct systemctl show -p MainPID --value wardend)
"$src/packaging/build-repo.sh" "$T/repo" "$key" "${new_debs[@]}" >/dev/null
apt_warden update >"$T/update2.out" 2>&1 || fail "apt-get update: $(cat "$T/update2.out")"
apt_warden upgrade -y -o Dpkg::Options::=--force-confold >"$T/upgrade.out" 2>&1 ||
  fail "apt-get upgrade: $(tail -20 "$T/upgrade.out")"
for p in warden-host warden-controller wardenctl warden-gateway; do
  [ "$(ct dpkg-query -W -f='${Version}' "$p")" = "$version" ] || fail "$p was not upgraded to $version"
done
grep -q "database schema v[0-9]*: up to date" "$T/upgrade.out" || fail "the controller upgrade did not run migrate: $(cat "$T/upgrade.out")"
wait_for 30 active warden-controller || fail "the controller did not come back after the upgrade"
ct wardenctl --home /root/.warden whoami >/dev/null || fail "the operator's login did not survive the controller upgrade"
ct grep -q "# edited by the site" /etc/warden/host.yaml || fail "the upgrade replaced the site's host.yaml"
[ "$(ct sha256sum /var/lib/warden/enrollment.json)" = "$enrollment" ] || fail "the host's enrollment changed ct the upgrade"
wait_for 30 active wardend || fail "wardend did not come back after the upgrade"
[ "$(ct systemctl show -p MainPID --value wardend)" != "$old_wardend" ] ||
  fail "the upgrade left the old wardend running"
echo "  ok: apt-get upgrade to $version: the controller migrated and kept its data, the host its enrollment and host.yaml; wardend restarted"

# --- removal: configure-host is reverted and root still logs in ---
apt_warden remove -y warden-host >"$T/remove.out" 2>&1 || fail "apt-get remove warden-host: $(tail -20 "$T/remove.out")"
if ct grep -q 'warden' /etc/nsswitch.conf /etc/pam.d/sshd; then fail "Warden's lines are left after removal"; fi
ct pamtester sshd root acct_mgmt >/dev/null 2>&1 || fail "root cannot pass the sshd PAM stack after removal"
apt_warden purge -y warden-controller >"$T/purge.out" 2>&1 || fail "apt-get purge warden-controller: $(tail -20 "$T/purge.out")"
ct test -e /var/lib/warden-controller/warden.db || fail "purge deleted the controller's data (keys, vault, audit log)"
echo "  ok: removal reverted configure-host, root passes the sshd PAM stack; purge keeps the controller's data"
echo PASS
