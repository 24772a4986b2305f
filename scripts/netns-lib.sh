# Shared helpers for scripts that build private network namespaces. Source it, then:
#   netns_require_root            # skip (exit 77) without root; under CI=true fail loudly
#   netns_make NS tag             # a fresh namespace "ts-<tag>-<pid>-<n>" in $NS, removed on exit
#   netns_tap "$NS" tap0 10.0.0.1/24   # TAP device inside it, kernel side addressed, up
#   netns_bg "$NS" cmd args...    # background process inside it; killed (by PID) on exit
#   netns_wait_port "$NS" 8080    # wait until a TCP listener is up (bounded)
#   netns_wait_udp_port "$NS" 53  # wait until a UDP socket is bound (bounded)
#   netns_ping "$NS" 5 OUT -i 0.2 10.0.0.2   # kernel ping; every reply must come (bounded)
# Every namespace and process is torn down by an EXIT trap, also when the script fails.
# Nothing here ever touches the root namespace's interfaces.

_NETNS_LIST=()
_NETNS_PIDS=()

netns_cleanup() {
  local pid ns
  for pid in "${_NETNS_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${_NETNS_PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  # Whatever still runs inside our namespaces was started by this script (e.g. a tapstackd the
  # shim started, which outlives its programs while connections are in TIME-WAIT): end it
  # (SIGTERM, then SIGKILL), so that deleting the namespace leaves nothing behind.
  local left=()
  for ns in "${_NETNS_LIST[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do [ "$pid" != "$$" ] && left+=("$pid"); done
  done
  for pid in "${left[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${left[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  # /etc/netns/NS: files `ip netns exec` bind-mounts over /etc (shim_setup's resolv.conf).
  for ns in "${_NETNS_LIST[@]}"; do ip netns del "$ns" 2>/dev/null || true; rm -rf "/etc/netns/$ns"; done
  _NETNS_PIDS=(); _NETNS_LIST=()
}
trap netns_cleanup EXIT
trap 'exit 130' INT TERM

netns_require_root() {
  if [ "$(id -u)" -ne 0 ] || ! [ -c /dev/net/tun ] || ! command -v ip >/dev/null; then
    if [ "${CI:-}" = "true" ]; then
      echo "FATAL: network tests need root, /dev/net/tun and iproute2 (CI=true: not skipping)" >&2
      exit 1
    fi
    echo "SKIP: network tests need root, /dev/net/tun and iproute2" >&2
    exit 77
  fi
}

# Creates namespace "ts-<tag>-<pid>-<rand>" with lo up and stores its name in VAR (no subshell,
# so the EXIT trap knows it).
netns_make() {
  local __var=$1 ns="ts-$2-$$-$RANDOM"
  ip netns add "$ns" || { echo "cannot create namespace $ns" >&2; return 1; }
  _NETNS_LIST+=("$ns")
  ip -n "$ns" link set lo up
  printf -v "$__var" '%s' "$ns"
}

netns_tap() {
  local ns=$1 tap=$2 addr=$3
  ip -n "$ns" tuntap add dev "$tap" mode tap
  [ -n "$addr" ] && ip -n "$ns" addr add "$addr" dev "$tap"
  ip -n "$ns" link set "$tap" up
}

# Runs "$@" inside namespace $1 in the background; the PID is in $NETNS_LAST_PID.
netns_bg() {
  local ns=$1; shift
  ip netns exec "$ns" "$@" &
  NETNS_LAST_PID=$!
  _NETNS_PIDS+=("$NETNS_LAST_PID")
}

netns_wait_port() {
  _netns_wait_bound "$1" "$2" t "something listening on TCP port"
}

# netns_wait_udp_port NS PORT: wait (bounded, 10 s) until a kernel UDP socket is bound to PORT in
# NS. A datagram sent before the server's bind() is answered with port unreachable and lost, so a
# fixed sleep after starting a UDP server is a race on a busy machine.
netns_wait_udp_port() {
  _netns_wait_bound "$1" "$2" u "a UDP socket bound to port"
}

# _netns_wait_bound NS PORT t|u WHAT: up to 10 s for a kernel socket of that protocol on PORT.
_netns_wait_bound() {
  local ns=$1 port=$2 proto=$3 what=$4 i
  for i in $(seq 1 100); do
    ip netns exec "$ns" ss -Hl"$proto"n "sport = :$port" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  echo "no $what $port in $ns after 10 s" >&2
  return 1
}

# netns_ping NS COUNT OUT ARGS...: the kernel's ping in NS sends COUNT echo requests (ARGS: -i,
# -s, the address...), output in OUT; succeeds when every one of icmp_seq 1..COUNT got its reply.
# `ping -c N` alone waits after its last request only max(interval, 2 x the slowest RTT) (200 ms
# with -i 0.2), so one reply delayed on a busy machine counted as lost; with -w it waits for all
# N (bounded) and sends a further request only while a reply is outstanding, so OUT may report
# more than N transmitted.
netns_ping() {
  local ns=$1 n=$2 out=$3 i; shift 3
  timeout 60 ip netns exec "$ns" ping -n -c "$n" -w 30 "$@" >"$out" || true
  for ((i = 1; i <= n; i++)); do
    grep -Eq "^[0-9]+ bytes from [^ ]+: icmp_seq=$i " "$out" || {
      echo "no reply to icmp_seq=$i:" >&2; cat "$out" >&2; return 1; }
  done
}

# ---- additions for tests that run tapstack-host (issue 3) ----
#   netns_tmpdir VAR                 # a temporary directory in $VAR, removed on exit
#   netns_deadline SECS              # the whole script is terminated (and cleaned up) after SECS
#   netns_wait_grep FILE REGEX [S]   # wait (bounded, default 10 s) until FILE has a line matching
#   netns_stop PID [S]               # SIGTERM, wait up to S s (default 10); returns its exit status
#   tapstack_host_bin                # sets TAPSTACK_HOST to target/release/tapstack-host (or fails)
#   netns_host_start NS OUT ERR [VAR=VALUE...]  # tapstack-host in NS, waits for "up on";
#                                    # PID in $NETNS_LAST_PID
_NETNS_TMP=()
_netns_cleanup_more() {
  local d
  for d in "${_NETNS_TMP[@]}"; do rm -rf -- "$d"; done
  _NETNS_TMP=()
}
trap 'netns_cleanup; _netns_cleanup_more' EXIT

netns_tmpdir() {
  local __var=$1 d
  d=$(mktemp -d /tmp/tapstack-test.XXXXXX) || return 1
  _NETNS_TMP+=("$d")
  printf -v "$__var" '%s' "$d"
}

netns_deadline() {
  local secs=$1 me=$$
  ( sleep "$secs"; echo "DEADLINE: test exceeded ${secs}s" >&2; kill -TERM "$me" ) >/dev/null 2>&1 &
  _NETNS_PIDS+=("$!")
}

netns_wait_grep() {
  local file=$1 re=$2 secs=${3:-10} i
  for ((i = 0; i < secs * 10; i++)); do
    grep -qE -- "$re" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out after ${secs}s waiting for /$re/ in $file" >&2
  return 1
}

netns_stop() {
  local pid=$1 secs=${2:-10} i rc
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "process $pid did not exit within ${secs}s of SIGTERM" >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
  wait "$pid"; rc=$?
  return $rc
}

tapstack_host_bin() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  TAPSTACK_HOST=$root/target/release/tapstack-host
  if ! [ -x "$TAPSTACK_HOST" ]; then
    echo "FATAL: $TAPSTACK_HOST not built (run: cargo build --release)" >&2
    exit 1
  fi
}

netns_host_start() {
  local ns=$1 out=$2 err=$3; shift 3
  [ -n "${TAPSTACK_HOST:-}" ] || tapstack_host_bin
  netns_bg "$ns" env "$@" "$TAPSTACK_HOST" >"$out" 2>"$err"
  if ! netns_wait_grep "$out" '^tapstack-host: up on' 10; then
    echo "tapstack-host did not come up; stderr:" >&2
    cat "$err" >&2
    return 1
  fi
}

# svc_idle [NS] [TAP]: waits (at most 10 s) until no tapstackd
# serves TAP (tap0) in namespace NS ($NS), so the next command starts a fresh one with its own
# TAPSTACK_* settings (TAPSTACK_PCAP, TAPSTACK_FAULTS... belong to the TAP's service).
# A service still up then only for connections in TIME-WAIT (our side closed first: it keeps
# the 4-tuples for 2 MSL, as a kernel would) is this script's own: ended by its PID (SIGTERM).
svc_idle() {
  local ns=${1:-$NS} tap=${2:-tap0} i pid states root
  for i in $(seq 1 100); do
    ip netns exec "$ns" ss -xl 2>/dev/null | grep -q "@tapstack\.$tap " || return 0
    sleep 0.1
  done
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  pid=$(ip netns exec "$ns" ss -Hxlp 2>/dev/null | awk -v t="@tapstack.$tap " \
    'index($0, t) { if (match($0, /pid=[0-9]+/)) { print substr($0, RSTART + 4, RLENGTH - 4); exit } }')
  states=$(ip netns exec "$ns" env TAPSTACK_TAP="$tap" "$root/scripts/tapstack" ss -tan 2>/dev/null |
    awk 'NR > 1 { print $2 }' | sort -u | tr '\n' ' ')
  if [ -n "$pid" ] && [ "$states" = "TIME-WAIT " ]; then
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 50); do
      ip netns exec "$ns" ss -xl 2>/dev/null | grep -q "@tapstack\.$tap " || {
        echo "   tapstackd for $tap stayed for TIME-WAIT; stopped by SIGTERM (pid $pid)"; return 0; }
      sleep 0.1
    done
  fi
  echo "FAIL: tapstackd for $tap did not exit when idle (connections: ${states:-none})"; exit 1
}
