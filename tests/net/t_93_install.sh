#!/usr/bin/env bash
# `make install` gives a working tapstack: the launcher, the library and the service tapstackd
# installed under a fresh PREFIX (a temporary directory), used from there with no TAPSTACK_LIB
# or TAPSTACK_SERVICE: a curl download through the installed launcher crosses the TAP (so the
# shim found the installed tapstackd beside it, in ../bin, and started it) and is byte-exact.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t93
P="$WORK/prefix"
make -s -C "$ROOT" install PREFIX="$P" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; echo "FAIL: make install"; exit 1; }
for f in bin/tapstack bin/tapstackd bin/tapstack-query lib/libtapstack_preload.so; do
  [ -x "$P/$f" ] || { echo "FAIL: make install did not install $f"; exit 1; }
done
echo "ok: make install put the launcher, tapstackd and the library under PREFIX"

head -c 4M /dev/urandom > "$WORK/f"
netns_bg "$NS" "$PY" -m http.server --bind 10.0.0.1 --directory "$WORK" 8000
netns_wait_port "$NS" 8000
tx0=$(tap_bytes tx)
# TAPSTACK_IDLE_MS (inherited by the service the shim starts) keeps it up long enough to be
# named below; the EXIT trap ends it with the namespace.
timeout -k 5 60 ip netns exec "$NS" env -u TAPSTACK_LIB -u TAPSTACK_SERVICE TAPSTACK_TAP=tap0 \
  TAPSTACK_IDLE_MS=20000 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_GW=10.0.0.1 "$P/bin/tapstack" \
  curl -sS --max-time 50 -o "$WORK/f.out" http://10.0.0.1:8000/f
[ "$(sha "$WORK/f.out")" = "$(sha "$WORK/f")" ] || { echo "FAIL: download through the installed tapstack differs"; exit 1; }
crossed tx 4194304 "$tx0" "download through the installed launcher"
svc=$(readlink "/proc/$(svc_pid)/exe" 2>/dev/null || true)
case "$svc" in
  "$P/bin/tapstackd") echo "ok: the installed tapstackd serves the TAP";;
  *) echo "FAIL: the service running is '$svc', not the installed $P/bin/tapstackd"; exit 1;;
esac
