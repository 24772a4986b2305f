# Shared helpers for scripts that build private network namespaces. Source it, then:
#   netns_require_root            # skip (exit 77) without root; under CI=true fail loudly
#   netns_make NS tag             # a fresh namespace "ts-<tag>-<pid>-<n>" in $NS, removed on exit
#   netns_tap "$NS" tap0 10.0.0.1/24   # TAP device inside it, kernel side addressed, up
#   netns_bg "$NS" cmd args...    # background process inside it; killed (by PID) on exit
#   netns_wait_port "$NS" 8080    # wait until a TCP listener is up (bounded)
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
  for ns in "${_NETNS_LIST[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
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
  local ns=$1 port=$2 i
  for i in $(seq 1 100); do
    ip netns exec "$ns" ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  echo "nothing listens on port $port in $ns after 10 s" >&2
  return 1
}
