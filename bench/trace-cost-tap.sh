#!/usr/bin/env bash
# What the ladder costs a real transfer (issue 13): a shimmed c-tests/bin/bulk_recv downloads MIB
# MiB from a kernel bulk_send over tap0 in a private namespace, ROUNDS times each with
# TAPSTACK_TRACE off, =ladder and =events (output to a file), interleaved; medians in MiB/s.
#   bench/trace-cost-tap.sh [MIB] [ROUNDS]      (root; defaults 256 and 5)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/netns-lib.sh"
netns_require_root
MIB=${1:-256}; ROUNDS=${2:-5}
LIB=$ROOT/target/release/libtapstack_preload.so; BIN=$ROOT/c-tests/bin
[ -r "$LIB" ] && [ -x "$BIN/bulk_recv" ] || { echo "build first: make build" >&2; exit 1; }
netns_deadline $((ROUNDS * 3 * 60 + 60))
netns_tmpdir T
netns_make NS tcost
netns_tap "$NS" tap0 10.0.0.1/24
port=7300
declare -A r
one() {
  local mode=$1 v
  port=$((port + 1))
  netns_bg "$NS" "$BIN/bulk_send" -l -p "$port" -m "$MIB" -t
  netns_wait_port "$NS" "$port"
  v=$(timeout 120 ip netns exec "$NS" env TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_GW=10.0.0.1 \
      TAPSTACK_TRACE="$mode" TAPSTACK_TRACE_FILE="$T/trace.$mode" "$ROOT/scripts/tapstack" \
      "$BIN/bulk_recv" -c 10.0.0.1 -p "$port" -t | awk '$1 == "mib_per_s" { print $2 }')
  wait "$NETNS_LAST_PID" 2>/dev/null || true
  r[$mode]+=" $v"
}
for ((i = 0; i < ROUNDS; i++)); do
  for m in 0 ladder events; do one "$m"; done
done
med() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "shimmed bulk_recv of $MIB MiB from a kernel bulk_send over tap0, median of $ROUNDS interleaved runs"
echo "| TAPSTACK_TRACE | MiB/s | runs | trace output |"
echo "|---|---:|---|---:|"
for m in 0 ladder events; do
  echo "| $m | $(echo "${r[$m]}" | med) | ${r[$m]# } | $(stat -c %s "$T/trace.$m" 2>/dev/null || echo 0) bytes |"
done
