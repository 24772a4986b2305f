#!/usr/bin/env bash
# a shimmed python3 -m http.server serves a kernel-side curl (16 MiB, sha256 equal).
# Kernel side: TAP tap0 10.0.0.1/24 inside a private namespace. tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t56

head -c 16M /dev/urandom > "$WORK/served"
want=$(sha "$WORK/served")
rx0=$(tap_bytes rx)
ts 120 "$PY" -m http.server --bind 10.0.0.2 --directory "$WORK" 8080 >/dev/null 2>&1 &
spid=$!
ok=0
for i in 1 2 3 4 5 6 7 8 9 10; do
  if in_ns curl -sS --max-time 60 --connect-timeout 2 -o "$WORK/got" http://10.0.0.2:8080/served 2>"$WORK/err"; then ok=1; break; fi
  sleep 0.5
done
kill $spid 2>/dev/null || true; wait $spid 2>/dev/null || true
[ $ok = 1 ] || { echo "FAIL: kernel curl could not fetch from the shimmed server: $(cat "$WORK/err")"; exit 1; }
got=$(sha "$WORK/got")
[ "$got" = "$want" ] || { echo "FAIL: sha256 differs ($(stat -c %s "$WORK/got") bytes)"; exit 1; }
crossed rx 16777216 "$rx0" "served file"
echo "ok: kernel curl fetched 16 MiB from tapstack python3 -m http.server, sha256 equal"
