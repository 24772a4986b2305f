#!/usr/bin/env bash
# `tapstack bash -c 'for i in $(seq 8); do curl -s -o f$i URL & done; wait'`: eight concurrent
# shimmed processes on one TAP (issue 10), every file byte-exact, all bytes through tap0.
# Then two separately launched `tapstack curl` at the same time. Kernel side: tap0 10.0.0.1/24.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t83

head -c 2M /dev/urandom > "$WORK/file"
want=$(sha "$WORK/file")
netns_bg "$NS" "$PY" -m http.server --bind 10.0.0.1 --directory "$WORK" 8000
netns_wait_port "$NS" 8000
mkdir "$WORK/out"
tx0=$(tap_bytes tx)
(cd "$WORK/out" && ts 120 bash -c 'for i in $(seq 8); do curl -sS --max-time 60 -o f$i http://10.0.0.1:8000/file & done; wait') \
  2> "$WORK/err" || true
for i in $(seq 8); do
  [ -f "$WORK/out/f$i" ] && [ "$(sha "$WORK/out/f$i")" = "$want" ] || {
    echo "FAIL: f$i missing or different; stderr:"; cat "$WORK/err"; exit 1; }
done
crossed tx $((8 * 2097152)) "$tx0" "8 concurrent downloads"
echo "ok: 8 concurrent shimmed curls under one shimmed bash, all byte-exact"

tx0=$(tap_bytes tx)
ts 60 curl -sS --max-time 50 -o "$WORK/a" http://10.0.0.1:8000/file 2> "$WORK/erra" & a=$!
ts 60 curl -sS --max-time 50 -o "$WORK/b" http://10.0.0.1:8000/file 2> "$WORK/errb" & b=$!
ra=0; wait $a || ra=$?
rb=0; wait $b || rb=$?
[ $ra = 0 ] && [ $rb = 0 ] || { echo "FAIL: two tapstack curls at once: exits $ra $rb"; cat "$WORK/erra" "$WORK/errb"; exit 1; }
[ "$(sha "$WORK/a")" = "$want" ] && [ "$(sha "$WORK/b")" = "$want" ] || { echo "FAIL: two tapstack curls: a file differs"; exit 1; }
crossed tx $((2 * 2097152)) "$tx0" "2 separately launched downloads"
echo "ok: two separately launched tapstack curls at the same time on one TAP"
