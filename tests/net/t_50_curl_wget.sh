#!/usr/bin/env bash
# curl and wget download a 64 MiB file from a kernel HTTP server through tapstack (sha256 equal).
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
netns_make NS t50
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
