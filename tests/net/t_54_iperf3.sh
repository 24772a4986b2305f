#!/usr/bin/env bash
# iperf3 client through tapstack against a kernel iperf3 server, 5 s each direction (-R).
# Kernel side: TAP tap0 10.0.0.1/24 inside a private namespace. tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t54

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
