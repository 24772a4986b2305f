#!/usr/bin/env bash
# curl and wget download a 64 MiB file from a kernel HTTP server through tapstack (sha256 equal).
# Kernel side: TAP tap0 10.0.0.1/24 inside a private namespace. tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t50

head -c 64M /dev/urandom > "$WORK/big"
want=$(sha "$WORK/big")
netns_bg "$NS" "$PY" -m http.server --bind 10.0.0.1 --directory "$WORK" 8000
netns_wait_port "$NS" 8000

tx0=$(tap_bytes tx)
ts 120 curl -sS --max-time 100 -o "$WORK/curl.out" http://10.0.0.1:8000/big
got=$(sha "$WORK/curl.out")
[ "$got" = "$want" ] || { echo "FAIL: curl sha256 $got != $want ($(stat -c %s "$WORK/curl.out") bytes)"; exit 1; }
crossed tx 67108864 "$tx0" "curl download"
echo "ok: curl downloaded 64 MiB through tapstack, sha256 equal"

tx0=$(tap_bytes tx)
ts 120 wget -q -T 30 -t 1 -O "$WORK/wget.out" http://10.0.0.1:8000/big
got=$(sha "$WORK/wget.out")
[ "$got" = "$want" ] || { echo "FAIL: wget sha256 $got != $want ($(stat -c %s "$WORK/wget.out") bytes)"; exit 1; }
crossed tx 67108864 "$tx0" "wget download"
echo "ok: wget downloaded 64 MiB through tapstack, sha256 equal"
