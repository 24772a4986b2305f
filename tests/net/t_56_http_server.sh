#!/usr/bin/env bash
# a shimmed python3 -m http.server serves a kernel-side curl (16 MiB, sha256 equal).
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
netns_make NS t56
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
