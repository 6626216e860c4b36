# Shared by scripts/demo.sh and tests/e2e: a throwaway controller on loopback, operators logged
# in with real TOTP codes, and a real sshd in a private mount namespace. Nothing on the system is
# changed: every file lives under $WARDEN_SANDBOX, and /etc/passwd is replaced only inside the
# sshd's own namespace.
#
# Source it, then call the functions. Requires: WARDEN_BIN (the CMake build directory).

set -euo pipefail

: "${WARDEN_BIN:?set WARDEN_BIN to the build directory}"
CONTROLLER="$WARDEN_BIN/controller/warden-controller"
WARDENCTL="$WARDEN_BIN/cli/wardenctl"
SSHGW="$WARDEN_BIN/gateway/warden-sshgw"
RDPGW="$WARDEN_BIN/gateway/warden-rdpgw"
SANDBOX_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WARDEN_SANDBOX="${WARDEN_SANDBOX:-$(mktemp -d /tmp/warden-sandbox.XXXXXX)}"
SANDBOX_PIDS=()
SANDBOX_DIRS=()

# stop_processes PID...: SIGTERM to each that is still this shell's child, then each gets until
# 30 s after the signal to exit. One that does not is a bug (systemd would wait 90 s, then
# SIGKILL): its threads' stacks go to stderr, it is killed, and SANDBOX_HUNG counts it so that
# the test fails.
SANDBOX_HUNG=0
stop_processes() {
  local pid state deadline=$((SECONDS + 30)) mine=()
  # Only this shell's children: a pid stopped or killed earlier may belong to anyone by now.
  for pid in "$@"; do
    [ -n "$pid" ] && [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f2)" = "$$" ] &&
      mine+=("$pid")
  done
  for pid in "${mine[@]:-}"; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${mine[@]:-}"; do
    [ -n "$pid" ] || continue
    while state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) &&
      [ -n "$state" ] && [ "$state" != Z ] && [ "$SECONDS" -lt "$deadline" ]; do
      sleep 0.1
    done
    if [ -n "$state" ] && [ "$state" != Z ]; then
      echo "sandbox: pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)) did not exit within 30 s of SIGTERM; its threads:" >&2
      timeout 60 gdb -p "$pid" -batch -ex 'thread apply all bt' 2>/dev/null | grep -E '^(Thread|#)' >&2 || true
      kill -KILL "$pid" 2>/dev/null || true
      SANDBOX_HUNG=$((SANDBOX_HUNG + 1))
    fi
    wait "$pid" 2>/dev/null || true
  done
  # Stopped for good: its pid may be reused, by a process the cleanup must not signal.
  local left=() p
  for p in "${SANDBOX_PIDS[@]:-}"; do
    [[ " $* " == *" $p "* ]] || left+=("$p")
  done
  SANDBOX_PIDS=("${left[@]:-}")
}

sandbox_cleanup() {
  stop_processes "${SANDBOX_PIDS[@]:-}"
  # A test that failed half way may leave sessions of its accounts running: their cgroups (in
  # wardend's warden-sessions, named u<UID>-<SESSION>) go with the sandbox's uid range.
  local first=$((1879048192 + ($$ % 65536) * 256)) mount cg uid killed=()
  mount=$(awk '{for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") print $5; break }}' /proc/self/mountinfo | head -1)
  for cg in "$mount"/warden-sessions/u*; do
    [ -e "$cg/cgroup.kill" ] || continue
    uid=${cg##*/u}
    uid=${uid%%-*}
    if [ "$uid" -ge "$first" ] && [ "$uid" -lt $((first + 256)) ]; then
      echo 1 >"$cg/cgroup.kill"
      killed+=("$cg")
    fi
  done
  if [ ${#killed[@]} -gt 0 ]; then
    sleep 0.2
    rmdir "${killed[@]}" 2>/dev/null || true
  fi
  rm -rf "$WARDEN_SANDBOX" "${SANDBOX_DIRS[@]:-}"
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wctl USER ARGS...: wardenctl with USER's profile.
wctl() {
  local user=$1
  shift
  "$WARDENCTL" --home "$WARDEN_SANDBOX/home-$user" "$@"
}

# controller_init [INIT OPTIONS...]: data dir + operators alice (requester), bob, carol
# (approvers) and admin. The vault's shares are in $WARDEN_SANDBOX/shares, one per line.
controller_init() {
  local d=$WARDEN_SANDBOX/controller
  # A fixed port, so that operators' profiles stay valid across controller restarts.
  "$CONTROLLER" init --data-dir "$d" --listen "127.0.0.1:$(free_port)" "$@" >"$WARDEN_SANDBOX/init.out"
  awk '$1 ~ /^wss1-/{print $1}' "$WARDEN_SANDBOX/init.out" >"$WARDEN_SANDBOX/shares"
  # Each sandbox allocates uids from its own range, so that sandboxes running side by side never
  # share a uid (a host ends a lease by killing its uid's processes).
  printf 'account_ids: {first: %d, count: 256}\n' $((1879048192 + ($$ % 65536) * 256)) >>"$d/policy.yaml"
  awk '/password:/{print $2}' "$WARDEN_SANDBOX/init.out" >"$WARDEN_SANDBOX/admin.password"
  awk '/TOTP secret:/{print $3}' "$WARDEN_SANDBOX/init.out" >"$WARDEN_SANDBOX/admin.totp"
  local u
  for u in alice bob carol; do
    "$CONTROLLER" user add --config "$d/controller.yaml" "$u" >"$WARDEN_SANDBOX/$u.out"
    awk '/password:/{print $2}' "$WARDEN_SANDBOX/$u.out" >"$WARDEN_SANDBOX/$u.password"
    awk '/TOTP secret:/{print $3}' "$WARDEN_SANDBOX/$u.out" >"$WARDEN_SANDBOX/$u.totp"
  done
}

# policy_add_roles: the roles on stdin (YAML entries indented two spaces, as under roles:) go
# first into the sandbox controller's policy.
policy_add_roles() {
  python3 -c 'import sys
p = sys.argv[1]
text = open(p).read()
open(p, "w").write(text.replace("roles:\n", "roles:\n" + sys.stdin.read(), 1))' \
    "$WARDEN_SANDBOX/controller/policy.yaml"
}

# rdp_broker_role NAME TIER LOGIN CERT: a role brokered by warden-rdpgw to the target of
# rdp_target_start (as winadmin, its password at kv/win1/admin) with CERT pinned, for
# policy_add_roles.
rdp_broker_role() {
  printf '  %s:\n    tier: %s\n    login: "%s-{{user}}"\n    max_ttl: 1h\n    requesters: [operators]\n' \
    "$1" "$2" "$3"
  printf '    approvals: {count: 2, groups: [approvers]}\n'
  printf '    broker: {protocol: rdp, target: win1, address: "127.0.0.1:%s", login: winadmin, credential: kv/win1/admin, certificate: "%s"}\n' \
    "$RDP_TARGET_PORT" "$4"
}

# controller_start [WRAPPER...]: serve in the background (optionally under a wrapper command such
# as a mount namespace); waits for the port.
controller_start() {
  local d=$WARDEN_SANDBOX/controller
  rm -f "$WARDEN_SANDBOX/controller.port"
  setsid "$@" "$CONTROLLER" serve --config "$d/controller.yaml" \
    --port-file "$WARDEN_SANDBOX/controller.port" >>"$WARDEN_SANDBOX/controller.log" 2>&1 &
  CONTROLLER_PID=$!
  SANDBOX_PIDS+=("$CONTROLLER_PID")
  local i
  for i in $(seq 1 100); do
    [ -s "$WARDEN_SANDBOX/controller.port" ] && break
    kill -0 "$CONTROLLER_PID" 2>/dev/null || { cat "$WARDEN_SANDBOX/controller.log" >&2; return 1; }
    sleep 0.05
  done
  CONTROLLER_ADDR="127.0.0.1:$(cat "$WARDEN_SANDBOX/controller.port")"
}

controller_stop() {
  stop_processes "$CONTROLLER_PID"
}

# login USER: password from the file init printed, one-time code from oathtool (the phone).
login() {
  local user=$1
  WARDEN_PASSWORD=$(cat "$WARDEN_SANDBOX/$user.password") wctl "$user" login \
    --controller "$CONTROLLER_ADDR" --ca-file "$WARDEN_SANDBOX/controller/tls/ca.crt" \
    --user "$user" --otp "$(oathtool --totp -b "$(cat "$WARDEN_SANDBOX/$user.totp")")"
}

# json_field FIELD < JSON: prints one top-level field (or field of the first array element).
json_field() {
  python3 -c 'import json,sys
d=json.load(sys.stdin)
d=d[0] if isinstance(d,list) else d
print(d[sys.argv[1]])' "$1"
}

# new_key NAME: an Ed25519 key pair at $WARDEN_SANDBOX/NAME.
new_key() {
  rm -f "$WARDEN_SANDBOX/$1" "$WARDEN_SANDBOX/$1.pub" "$WARDEN_SANDBOX/$1-cert.pub"
  ssh-keygen -q -t ed25519 -N '' -C "$1" -f "$WARDEN_SANDBOX/$1"
}

# grant_for ROLE [TTL]: alice requests, bob and carol approve; prints the grant id.
grant_for() {
  local role=$1 ttl=${2:-30m} rid
  rid=$(wctl alice --json request --role "$role" --reason "CHG-1234" --ttl "$ttl" | json_field id)
  wctl bob approve "$rid" >/dev/null
  wctl carol --json approve "$rid" | json_field grant_id
}

# sshd_start NAME TIER LOGIN...: a real sshd on loopback that trusts only TIER's user CAs and
# checks the KRL at $WARDEN_SANDBOX/NAME/revoked.krl. LOGINs are added to the passwd file that is
# bind-mounted over /etc/passwd inside its private mount namespace.
sshd_start() {
  local name=$1 tier=$2
  shift 2
  local d=$WARDEN_SANDBOX/$name uid=61000 login home
  mkdir -p "$d"
  # Homes live outside the (private, 0700) sandbox so that the login accounts can enter them.
  home=$(mktemp -d /tmp/warden-home.XXXXXX)
  chmod 755 "$home"
  SANDBOX_DIRS+=("$home")
  ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
  wctl alice ca keys --tier "$tier" >"$d/trusted_user_ca_keys"
  wctl alice krl -o "$d/revoked.krl" >/dev/null
  cp /etc/passwd "$d/passwd"
  for login in "$@"; do
    mkdir -p "$home/$login"
    chown "$uid:$uid" "$home/$login"
    echo "$login:x:$uid:$uid:Warden ephemeral account:$home/$login:/bin/sh" >>"$d/passwd"
    uid=$((uid + 1))
  done
  SSHD_PORT=$(free_port)
  cat >"$d/sshd_config" <<CFG
ListenAddress 127.0.0.1:$SSHD_PORT
HostKey $d/host_key
PidFile $d/sshd.pid
TrustedUserCAKeys $d/trusted_user_ca_keys
RevokedKeys $d/revoked.krl
AuthorizedKeysFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes no
LogLevel DEBUG2
CFG
  sshd_in_namespace "$name" "$d" "$SSHD_PORT" "mount --bind '$d/passwd' /etc/passwd &&" "$d/sshd_config"
}

# sshd_in_namespace NAME DIR PORT MOUNTS CONFIG: runs sshd with CONFIG in a new mount namespace
# after the shell commands MOUNTS, logging to DIR/sshd.log; waits until it listens and records
# PORT as SSHD_PORT_NAME for ssh_as.
sshd_in_namespace() {
  local name=$1 d=$2 port=$3 mounts=$4 config=$5
  # sshd's privilege separation directory: missing on a machine where sshd never ran.
  mkdir -p -m 0755 /run/sshd
  # Emptied here, not by the background job's redirection: that happens in the child, maybe after
  # the loop below has already read a restarted sshd's old "Server listening" line.
  : >"$d/sshd.log"
  setsid unshare -m sh -c "$mounts exec /usr/sbin/sshd -D -e -f '$config'" >>"$d/sshd.log" 2>&1 &
  SANDBOX_PIDS+=("$!")
  local i
  for i in $(seq 1 100); do
    grep -q "Server listening" "$d/sshd.log" 2>/dev/null && break
    sleep 0.05
  done
  grep -q "Server listening" "$d/sshd.log" || { cat "$d/sshd.log" >&2; return 1; }
  eval "SSHD_PORT_${name//-/_}=$port"
}

# ssh_as NAME KEY LOGIN CMD: logs in to sshd NAME with KEY and KEY-cert.pub, from SSH_BIND
# (default 127.0.0.1); with a terminal when SSH_TT is set (sshd then writes a login record).
ssh_as() {
  local name=$1 key=$2 login=$3
  shift 3
  local port_var="SSHD_PORT_${name//-/_}"
  ssh -i "$WARDEN_SANDBOX/$key" -o CertificateFile="$WARDEN_SANDBOX/$key-cert.pub" \
    -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o BatchMode=yes -o LogLevel="${SSH_LOG_LEVEL:-ERROR}" -o ConnectTimeout=5 -p "${!port_var}" ${SSH_TT:+-tt} \
    -o BindAddress="${SSH_BIND:-127.0.0.1}" "$login@127.0.0.1" "$@"
}

# refresh_krl NAME: fetch the current KRL into sshd NAME's RevokedKeys (sshd rereads it per login).
refresh_krl() {
  wctl alice krl -o "$WARDEN_SANDBOX/$1/revoked.krl"
}

# host_start NAME TIER LABELS: an enrolled Warden host. wardend runs with its state, agent socket
# and config under a root-owned 0755 directory in /run (sshd runs AuthorizedPrincipalsCommand as
# nobody and insists that the command's path has no group/world-writable component), homes under
# a 0755 directory, and configure-host edits copies of nsswitch.conf, sshd_config and pam.d/sshd.
# Then a real sshd runs in a private mount namespace where those copies, a private ld.so.cache
# (finding libnss_warden.so.2 in the build), /etc/sudoers.d and the login records are bind-mounted.
# Root logs in with a plain key: the break-glass account.
host_start() {
  local name=$1 tier=$2 labels=$3
  local d token
  d=$(mktemp -d /run/warden-host.XXXXXX)
  chmod 755 "$d"
  SANDBOX_DIRS+=("$d")
  eval "HOST_DIR_${name//-/_}=$d"
  mkdir -p "$d/bin" "$d/etc/ssh" "$d/etc/pam.d" "$d/sudoers.d" "$d/home" "$d/log"
  chmod 755 "$d/home"
  cp "$WARDEN_BIN/daemon/wardend" "$WARDEN_BIN/daemon/warden-principals" "$d/bin/"
  ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
  cat >"$d/host.yaml" <<CFG
state_dir: $d/state
sudoers_file: $d/sudoers.d/warden
agent_socket: $d/agent.sock
home_root: $d/home
break_glass: [root]
kill_grace_ms: 500
reconnect_max_ms: 2000
inventory_root: $d/inventory
inventory_interval: 1s
login_records: $d/log/wtmp
CFG
  token=$(wctl admin --json host token create --tier "$tier" --hostname "$name" --labels "$labels" --ttl 10m | json_field token)
  "$d/bin/wardend" --config "$d/host.yaml" enroll --controller "$CONTROLLER_ADDR" --token "$token" \
    --ca-file "$WARDEN_SANDBOX/controller/tls/ca.crt" --hostname "$name" \
    --ssh-host-key "$d/host_key.pub" >"$d/enroll.out"
  cp /etc/nsswitch.conf "$d/etc/nsswitch.conf"
  cp /etc/pam.d/sshd "$d/etc/pam.d/sshd"
  # Two local (unmanaged) accounts log in with plain keys: root, the break-glass account, and
  # localops, an ordinary local user whose logins pass through pam_warden as "not managed". Its
  # shell is bash, the one Warden's accounts get, so that bench/host_bench.sh compares like with
  # like (Debian's bash, started by sshd, reads bashrc: a few ms that are not Warden's).
  mkdir -p "$d/authorized_keys" "$d/home/localops"
  cp /etc/passwd "$d/passwd"
  echo "localops:*:61900:61900:local operator:$d/home/localops:/bin/bash" >>"$d/passwd"
  chown 61900:61900 "$d/home/localops"
  local u
  for u in root localops; do
    new_key "$u-$name"
    cp "$WARDEN_SANDBOX/$u-$name.pub" "$d/authorized_keys/$u"
  done
  # Discovery reads a tree of its own, not this machine's /etc: the host's accounts as sshd
  # sees them (root's key where sshd_config says), which a test may plant more in.
  mkdir -p "$d/inventory/etc/ssh" "$d/inventory/keys"
  cp "$d/passwd" "$d/inventory/etc/passwd"
  printf 'root:x:0:\nsudo:x:27:\nadm:x:4:\n' >"$d/inventory/etc/group"
  printf 'root:!:19000::::::\nlocalops:*:19000::::::\n' >"$d/inventory/etc/shadow"
  echo 'AuthorizedKeysFile /keys/%u' >"$d/inventory/etc/ssh/sshd_config"
  cp "$d/authorized_keys/root" "$d/inventory/keys/root"
  HOST_SSHD_PORT=$(free_port)
  cat >"$d/etc/ssh/sshd_config" <<CFG
ListenAddress 127.0.0.1:$HOST_SSHD_PORT
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys/%u
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
UsePAM yes
StrictModes no
LogLevel DEBUG2
CFG
  cp -a "$d/etc" "$d/etc.orig"
  "$d/bin/wardend" --config "$d/host.yaml" configure-host --etc "$d/etc" \
    --principals-command "$d/bin/warden-principals" \
    --pam-module "$WARDEN_BIN/pam_module/pam_warden.so" >"$d/configure.out"
  # The NSS module is loaded by every process, the account's own included: it must sit where
  # that uid can read it (a build tree under a 0700 directory would not do).
  mkdir -p "$d/lib"
  cp "$WARDEN_BIN/nss_module/libnss_warden.so.2" "$d/lib/"
  printf '%s\ninclude /etc/ld.so.conf.d/*.conf\n' "$d/lib" >"$d/ld.so.conf"
  ldconfig -C "$d/ld.so.cache" -f "$d/ld.so.conf"
  : >"$d/log/lastlog"
  : >"$d/log/wtmp"
  : >"$d/log/btmp"
  wardend_start "$name"
  sshd_in_namespace "$name" "$d" "$HOST_SSHD_PORT" "$(host_ns_mounts "$d")" "$d/etc/ssh/sshd_config"
}

# host_ns_mounts DIR: the bind mounts that make a mount namespace see host DIR's configuration.
# libnss_warden.so.2 reads /var/lib/warden/nss.cache; that directory may not exist on this machine
# and is not created on it: inside the namespace /var/lib becomes a tmpfs holding bind mounts of
# every original entry plus warden -> DIR/state.
host_ns_mounts() {
  local d=$1
  mkdir -p "$d/varlib.orig"
  printf '%s ' "mount --bind /var/lib '$d/varlib.orig' && mount -t tmpfs -o mode=755 tmpfs /var/lib &&" \
    "for e in '$d'/varlib.orig/*; do b=\${e##*/};" \
    "if [ -L \"\$e\" ]; then ln -s \"\$(readlink \"\$e\")\" \"/var/lib/\$b\"; continue; fi;" \
    "if [ -d \"\$e\" ]; then mkdir \"/var/lib/\$b\"; else touch \"/var/lib/\$b\"; fi;" \
    "mount --bind \"\$e\" \"/var/lib/\$b\"; done &&" \
    "mkdir /var/lib/warden && mount --bind '$d/state' /var/lib/warden &&" \
    "mount --bind '$d/passwd' /etc/passwd &&" \
    "mount --bind '$d/etc/nsswitch.conf' /etc/nsswitch.conf &&" \
    "mount --bind '$d/ld.so.cache' /etc/ld.so.cache &&" \
    "mount --bind '$d/etc/pam.d/sshd' /etc/pam.d/sshd &&" \
    "mount --bind '$d/sudoers.d' /etc/sudoers.d &&" \
    "mount --bind '$d/log/lastlog' /var/log/lastlog &&" \
    "mount --bind '$d/log/wtmp' /var/log/wtmp &&" \
    "mount --bind '$d/log/btmp' /var/log/btmp &&"
}

# in_host NAME CMD...: runs CMD in a mount namespace that sees host NAME's configuration.
in_host() {
  local var="HOST_DIR_${1//-/_}"
  local d=${!var}
  shift
  unshare -m sh -c "$(host_ns_mounts "$d") exec \"\$@\"" sh "$@"
}

# wardend_start NAME / wardend_stop NAME
wardend_start() {
  local var="HOST_DIR_${1//-/_}"
  local d=${!var}
  setsid "$d/bin/wardend" --config "$d/host.yaml" run >>"$d/wardend.log" 2>&1 &
  eval "WARDEND_PID_${1//-/_}=$!"
  SANDBOX_PIDS+=("$!")
  local i
  for i in $(seq 1 100); do
    [ -S "$d/agent.sock" ] && return 0
    sleep 0.05
  done
  cat "$d/wardend.log" >&2
  return 1
}

wardend_stop() {
  local var="WARDEND_PID_${1//-/_}"
  stop_processes "${!var}"
}

# host_sshd_restart NAME: stops host NAME's sshd and starts it again on the same port in a new
# mount namespace, so that it reads sshd_config and pam.d/sshd as they are now (the files are
# replaced by rename, and a bind mount keeps showing the file it was made of).
host_sshd_restart() {
  local var="HOST_DIR_${1//-/_}" port_var="SSHD_PORT_${1//-/_}"
  local d=${!var} pid i
  pid=$(cat "$d/sshd.pid")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  sshd_in_namespace "$1" "$d" "${!port_var}" "$(host_ns_mounts "$d")" "$d/etc/ssh/sshd_config"
}

# gateway_start BIN NAME TIER: the gateway BIN (warden-sshgw or warden-rdpgw) enrolled as NAME
# (a tier-TIER gateway join token) and serving on a free loopback port, $GATEWAY_PORT; its log is
# $WARDEN_SANDBOX/NAME/sshgw.log or rdpgw.log. $GATEWAY_EXTRA_CONFIG: more lines of its YAML.
gateway_start() {
  local bin=$1 name=$2 tier=$3 d=$WARDEN_SANDBOX/$2 token i log
  log=$d/${bin##*/warden-}.log
  mkdir -p "$d"
  GATEWAY_PORT=$(free_port)
  printf 'listen: "127.0.0.1:%s"\nstate_dir: %s/state\n%s\n' "$GATEWAY_PORT" "$d" \
    "${GATEWAY_EXTRA_CONFIG:-}" >"$d/gateway.yaml"
  token=$(wctl admin host token create --tier "$tier" --hostname "$name" --kind gateway 2>/dev/null)
  "$bin" --config "$d/gateway.yaml" enroll --controller "$CONTROLLER_ADDR" --token "$token" \
    --ca-file "$WARDEN_SANDBOX/controller/tls/ca.crt" --hostname "$name" >"$d/enroll.out"
  setsid "$bin" --config "$d/gateway.yaml" serve >>"$log" 2>&1 &
  SANDBOX_PIDS+=("$!")
  for i in $(seq 1 100); do
    grep -q "listening on" "$log" 2>/dev/null && return 0
    sleep 0.05
  done
  cat "$log" >&2
  return 1
}

# sshgw_start NAME TIER / rdpgw_start NAME TIER: gateway_start; the port is $SSHGW_PORT or
# $RDPGW_PORT.
sshgw_start() {
  gateway_start "$SSHGW" "$@"
  SSHGW_PORT=$GATEWAY_PORT
}
rdpgw_start() {
  gateway_start "$RDPGW" "$@"
  RDPGW_PORT=$GATEWAY_PORT
}

# xvfb_start VAR WIDTHxHEIGHT: a private X server; its display (":N") goes into VAR.
xvfb_start() {
  local var=$1 size=$2 f i n=
  f=$(mktemp "$WARDEN_SANDBOX/xvfb.XXXXXX")
  # -noreset: an X server resets when its last client leaves and drops clients that connect
  # meanwhile. FreeRDP's shadow server opens the display twice in a row at start-up, and the
  # second open then failed now and then ("failed to open display"). A display counts as up
  # when a client can talk to it.
  setsid Xvfb -displayfd 3 -screen 0 "${size}x24" -nolisten tcp -noreset 3>"$f" >/dev/null 2>&1 &
  SANDBOX_PIDS+=("$!")
  for i in $(seq 1 100); do
    [ -s "$f" ] && n=$(head -1 "$f") && xset -display ":$n" q >/dev/null 2>&1 && break
    n=
    sleep 0.05
  done
  [ -n "$n" ] || { echo "sandbox: Xvfb did not come up" >&2; return 1; }
  printf -v "$var" ':%s' "$n"
}

# rdp_target_start USER PASSWORD [WIDTHxHEIGHT]: an RDP server to broker to, FreeRDP's shadow
# server sharing a private X display ($RDP_TARGET_DISPLAY, 1024x768 by default) on
# $RDP_TARGET_PORT, NLA only, with one account in its SAM file; its TLS certificate's SHA-256 is
# $RDP_TARGET_CERT.
rdp_target_start() {
  local d=$WARDEN_SANDBOX/rdp-target i
  mkdir -p "$d"
  winpr-hash -u "$1" -p "$2" -f sam >"$d/sam"
  xvfb_start RDP_TARGET_DISPLAY "${3:-1024x768}"
  RDP_TARGET_PORT=$(free_port)
  (cd "$d" && HOME=$d DISPLAY=$RDP_TARGET_DISPLAY setsid freerdp-shadow-cli /port:"$RDP_TARGET_PORT" \
    /bind-address:127.0.0.1 /sec:nla +auth /sam-file:"$d/sam" >"$d/shadow.log" 2>&1) &
  SANDBOX_PIDS+=("$!")
  # Ready when a logon of its account goes through (NLA and all), not merely when it listens.
  for i in $(seq 1 41); do
    [ "$i" -le 40 ] || { echo "sandbox: the RDP target did not come up:" >&2; cat "$d/shadow.log" >&2; return 1; }
    [ -s "$d/.config/freerdp/shadow/shadow.crt" ] &&
      HOME=$d DISPLAY=$RDP_TARGET_DISPLAY timeout 10 xfreerdp /v:"127.0.0.1:$RDP_TARGET_PORT" /u:"$1" \
        /p:"$2" /cert:ignore +auth-only >/dev/null 2>&1 && break
    sleep 0.25
  done
  RDP_TARGET_CERT=$(openssl x509 -in "$d/.config/freerdp/shadow/shadow.crt" -noout -fingerprint -sha256 | cut -d= -f2)
}

# gw_ssh KEY [SSH ARGS...]: OpenSSH's client through the gateway on $SSHGW_PORT with KEY and
# KEY-cert.pub (its user name, LOGIN@TARGET, among the arguments).
# The client prints the gateway's reasons for a refusal (SSH banners) at LogLevel INFO: set
# GW_LOG=INFO to see them (default ERROR).
gw_ssh() {
  local key=$1
  shift
  ssh -i "$WARDEN_SANDBOX/$key" -o CertificateFile="$WARDEN_SANDBOX/$key-cert.pub" \
    -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o BatchMode=yes -o ConnectTimeout=10 -o LogLevel="${GW_LOG:-ERROR}" -p "$SSHGW_PORT" "$@"
}

# wait_for SECONDS CMD...: polls CMD every 50 ms until it succeeds.
wait_for() {
  local deadline=$(($(date +%s%N) + $1 * 1000000000))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s%N)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# A PostgreSQL of the sandbox's own (docs/databases.md): initdb as the postgres user in a directory
# it owns, SCRAM over TCP on a free loopback port, trust on its socket; warden_admin may create
# roles. pg_sql runs SQL as the superuser; pg_login USER PASSWORD logs in over TCP.
pg_start() {
  PG_DIR=$(mktemp -d /tmp/warden-e2e-pg.XXXXXX)
  chown postgres "$PG_DIR"
  PG_PORT=$(free_port)
  echo superpw >"$PG_DIR/pw"
  chown postgres "$PG_DIR/pw"
  runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D "$PG_DIR/data" -U postgres \
    --pwfile="$PG_DIR/pw" --auth-host=scram-sha-256 --auth-local=trust >/dev/null
  # TLS offered (not required) with a certificate for 127.0.0.1: PG_DIR/server.crt is its CA.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$PG_DIR/data/server.key" -out "$PG_DIR/server.crt" 2>/dev/null
  cp "$PG_DIR/server.crt" "$PG_DIR/data/server.crt"
  chown postgres "$PG_DIR/data/server.key" "$PG_DIR/data/server.crt"
  chmod 600 "$PG_DIR/data/server.key"
  echo "ssl = on" >>"$PG_DIR/data/postgresql.conf"
  pg_up
  pg_sql "CREATE ROLE warden_admin LOGIN CREATEROLE PASSWORD 'adminpw-$PG_PORT'" >/dev/null
  pg_sql "GRANT pg_read_all_data TO warden_admin WITH ADMIN OPTION" >/dev/null
  pg_sql "GRANT pg_signal_backend TO warden_admin" >/dev/null
}
pg_up() {
  runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PG_DIR/data" -l "$PG_DIR/log" \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1" -w start >/dev/null
}
pg_down() {
  runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PG_DIR/data" -m fast -w stop >/dev/null
}
pg_sql() { runuser -u postgres -- psql -X -A -t -q -h "$PG_DIR" -p "$PG_PORT" -d postgres -v ON_ERROR_STOP=1 -c "$1"; }
pg_login() { PGPASSWORD=$2 psql -X -A -t -q -h 127.0.0.1 -p "$PG_PORT" -U "$1" -d postgres -c 'SELECT current_user'; }
pg_roles() { pg_sql "SELECT count(*) FROM pg_roles WHERE rolname = '$1'"; }

# Receivers of alerts for this test: a webhook (webhook.py: each POST body on a line of
# webhook.log) and a syslog datagram socket (each message on a line of syslog.log);
# controller.yaml sends to both.
alert_receivers() {
  local hook_port
  hook_port=$(free_port)
  setsid python3 "$SANDBOX_SCRIPTS/webhook.py" "$hook_port" "$WARDEN_SANDBOX/webhook.log" &
  SANDBOX_PIDS+=($!)
  setsid python3 - "$WARDEN_SANDBOX/syslog.sock" "$WARDEN_SANDBOX/syslog.log" <<'EOPY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    m = s.recv(65536)
    with open(sys.argv[2], 'ab') as f:
        f.write(m + b'\n')
EOPY
  SANDBOX_PIDS+=($!)
  wait_for 10 test -S "$WARDEN_SANDBOX/syslog.sock" || { echo "the syslog receiver did not start" >&2; return 1; }
  printf 'alerts:\n  webhook: http://127.0.0.1:%s/hooks/warden\n  syslog: true\n  syslog_socket: %s\n' \
    "$hook_port" "$WARDEN_SANDBOX/syslog.sock" >>"$WARDEN_SANDBOX/controller/controller.yaml"
}

# An appliance Warden cannot run an agent on (docs/rotation.md, kind ssh): sshd in a private
# mount namespace whose PAM stack checks passwords (pam_exec) against a file that only the
# appliance's own change command rewrites. APPLIANCE_PW holds its password file,
# APPLIANCE_SET its change command, APPLIANCE_KEY its host key line.
appliance_start() {
  local d=$WARDEN_SANDBOX/appliance home
  mkdir -p "$d"
  home=$(mktemp -d /tmp/warden-appliance.XXXXXX)
  chmod 755 "$home"
  SANDBOX_DIRS+=("$home")
  mkdir -p "$home/state"
  chown 61000:61000 "$home/state"
  APPLIANCE_PW=$home/state/password
  APPLIANCE_SET=$home/set-password
  echo -n "$1" >"$APPLIANCE_PW"
  chown 61000:61000 "$APPLIANCE_PW"
  # pam_exec hands the password on stdin, NUL-terminated.
  cat >"$home/check-password" <<EOF
#!/bin/sh
[ "\$(tr -d '\\000')" = "\$(cat '$APPLIANCE_PW')" ]
EOF
  cat >"$APPLIANCE_SET" <<EOF
#!/bin/sh
IFS= read -r current
IFS= read -r new
[ "\$current" = "\$(cat '$APPLIANCE_PW')" ] || { echo "current password wrong" >&2; exit 3; }
printf '%s' "\$new" >'$APPLIANCE_PW.tmp' && mv '$APPLIANCE_PW.tmp' '$APPLIANCE_PW'
EOF
  chmod 755 "$home/check-password" "$APPLIANCE_SET"
  printf 'auth required pam_exec.so expose_authtok quiet %s\naccount required pam_permit.so\nsession required pam_permit.so\n' \
    "$home/check-password" >"$d/pam-sshd"
  cp /etc/passwd "$d/passwd"
  echo "appadmin:x:61000:61000:appliance admin:$home:/bin/sh" >>"$d/passwd"
  ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
  APPLIANCE_KEY=$(cut -d' ' -f1,2 "$d/host_key.pub")
  APPLIANCE_PORT=$(free_port)
  cat >"$d/sshd_config" <<CFG
ListenAddress 127.0.0.1:$APPLIANCE_PORT
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile none
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication no
UsePAM yes
StrictModes no
Subsystem sftp internal-sftp
CFG
  sshd_in_namespace appliance "$d" "$APPLIANCE_PORT" \
    "mount --bind '$d/passwd' /etc/passwd && mount --bind '$d/pam-sshd' /etc/pam.d/sshd &&" "$d/sshd_config"
}

# appliance_target PATH USER HOST_KEY: an entry of policy.yaml's rotation.targets for the
# appliance's account USER (kind ssh, its change command), pinned to HOST_KEY.
appliance_target() {
  printf '    "%s":\n      kind: ssh\n      host: 127.0.0.1\n      port: %s\n      user: %s\n      host_key: "%s"\n      change_command: %s\n' \
    "$1" "$APPLIANCE_PORT" "$2" "$3" "$APPLIANCE_SET"
}

# appliance_login PASSWORD: OpenSSH's own client logs in to the appliance with PASSWORD.
appliance_login() {
  printf '#!/bin/sh\nprintf "%%s\\n" "$APPLIANCE_TRY"\n' >"$WARDEN_SANDBOX/askpass"
  chmod 700 "$WARDEN_SANDBOX/askpass"
  APPLIANCE_TRY=$1 SSH_ASKPASS="$WARDEN_SANDBOX/askpass" SSH_ASKPASS_REQUIRE=force setsid -w \
    ssh -o PreferredAuthentications=password -o PubkeyAuthentication=no -o NumberOfPasswordPrompts=1 \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -o ConnectTimeout=5 -p "$APPLIANCE_PORT" appadmin@127.0.0.1 echo logged-in </dev/null
}

# rsyslog_start NAME [tls]: a SIEM collector of the test's own, rsyslog listening on a loopback
# TCP port (kept in $WARDEN_SANDBOX/NAME/port: a restart listens there again), with TLS when asked
# (its certificate, for 127.0.0.1, from a CA of its own: $WARDEN_SANDBOX/NAME/ca.crt). The MSG of
# every message it receives becomes a line of $WARDEN_SANDBOX/NAME/messages. RSYSLOG_PID: its pid.
rsyslog_start() {
  local d=$WARDEN_SANDBOX/$1 tls=${2:-} port driver=
  mkdir -p "$d/work"
  [ -s "$d/port" ] || free_port >"$d/port"
  port=$(cat "$d/port")
  if [ "$tls" = tls ] && [ ! -s "$d/ca.crt" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=siem-ca \
      -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
      -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
      -extfile <(printf 'subjectAltName=IP:127.0.0.1\n') -out "$d/server.crt" 2>/dev/null
  fi
  [ "$tls" = tls ] && driver=" StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\""
  {
    echo "global(workDirectory=\"$d/work\" maxMessageSize=\"1m\""
    [ "$tls" = tls ] && echo "  DefaultNetstreamDriverCAFile=\"$d/ca.crt\" DefaultNetstreamDriverCertFile=\"$d/server.crt\" DefaultNetstreamDriverKeyFile=\"$d/server.key\""
    echo ")"
    echo "module(load=\"imtcp\"$driver)"
    echo "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"$port\")"
    echo "template(name=\"msg\" type=\"string\" string=\"%msg%\\n\")"
    echo "*.* action(type=\"omfile\" file=\"$d/messages\" template=\"msg\")"
  } >"$d/rsyslog.conf"
  setsid rsyslogd -n -f "$d/rsyslog.conf" -i "$d/rsyslogd.pid" >>"$d/rsyslogd.log" 2>&1 &
  RSYSLOG_PID=$!
  SANDBOX_PIDS+=("$RSYSLOG_PID")
  wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" ||
    { echo "sandbox: rsyslog $1 did not listen on $port:" >&2; cat "$d/rsyslogd.log" >&2; return 1; }
}
