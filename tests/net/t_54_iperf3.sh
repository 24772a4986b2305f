#!/usr/bin/env bash
# iperf3 client through tapstack against a kernel iperf3 server, 5 s each direction (-R).
# Kernel side: TAP tap0 10.0.0.1/24 inside a private namespace. tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/netns-lib.sh"
netns_require_root
LIB=${TAPSTACK_LIB:-$ROOT/target/release/libtapstack_preload.so}
[ -r "$LIB" ] || { echo "FAIL: $LIB is not built (make build)"; exit 1; }
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)
WORK=$(mktemp -d)
trap 'netns_cleanup; rm -rf "$WORK"' EXIT
netns_make NS t54
netns_tap "$NS" tap0 10.0.0.1/24
# in_ns CMD...: kernel stack inside the namespace. ts SECS CMD...: through tapstack, bounded.
in_ns() { ip netns exec "$NS" "$@"; }
ts() { local t=$1; shift; timeout -k 5 "$t" ip netns exec "$NS" env TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 \
        TAPSTACK_GW=10.0.0.1 TAPSTACK_LINGER="${TAPSTACK_LINGER:-5000}" TAPSTACK_LIB="$LIB" "$ROOT/scripts/tapstack" "$@"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# Proof that traffic went through tapstack: only tapstack writes frames into tap0 (the kernel's
# rx), and what the kernel sends to 10.0.0.2 leaves through tap0 (its tx). Without the shim a
# program would reach 10.0.0.1 over the kernel's own loopback and these counters would not move.
tap_bytes() { in_ns cat "/sys/class/net/tap0/statistics/$1_bytes"; }
# crossed rx|tx MIN BEFORE WHAT: at least MIN bytes crossed tap0 in that direction since BEFORE.
crossed() {
  local d=$(( $(tap_bytes "$1") - $3 ))
  [ "$d" -ge "$2" ] || { echo "FAIL: $4: only $d bytes crossed tap0 ($1), expected >= $2 (not through tapstack?)"; exit 1; }
  echo "   $4: $d bytes crossed tap0 (kernel $1)"
}

netns_bg "$NS" iperf3 -s -B 10.0.0.1 -p 5201
netns_wait_port "$NS" 5201
for dir in "" "-R"; do
  name=${dir:-forward}
  rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
  rc=0; ts 40 iperf3 -c 10.0.0.1 -p 5201 -t 5 $dir -J > "$WORK/ip$name.json" || rc=$?
  [ $rc = 0 ] || { echo "FAIL: iperf3 $name exited with $rc"; tail -20 "$WORK/ip$name.json"; exit 1; }
  read -r recvd mbps <<<"$("$PY" -c '
import json, sys
e = json.load(open(sys.argv[1]))["end"]["sum_received"]
print(e["bytes"], round(e["bits_per_second"] / 1e6))' "$WORK/ip$name.json")"
  [ "$recvd" -gt 1000000 ] || { echo "FAIL: iperf3 $name: only $recvd bytes received"; exit 1; }
  if [ -z "$dir" ]; then crossed rx "$recvd" "$rx0" "iperf3 $name"; else crossed tx "$recvd" "$tx0" "iperf3 $name"; fi
  echo "ok: iperf3 $name: $recvd bytes received in 5 s (~$mbps Mbit/s)"
done
