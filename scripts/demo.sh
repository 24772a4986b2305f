#!/usr/bin/env bash
# make demo: an unmodified curl downloads a file through tapstack, and we check every byte.
# Builds nothing (make does). Needs root (a private network namespace with a TAP device);
# everything it creates is removed on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/netns-lib.sh"
netns_require_root
LIB=${TAPSTACK_LIB:-$ROOT/target/release/libtapstack_preload.so}
[ -r "$LIB" ] || { echo "demo: $LIB is not built; run 'make demo' (or 'make build') first" >&2; exit 1; }
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)
WORK=$(mktemp -d)
trap 'netns_cleanup; rm -rf "$WORK"' EXIT

say() { printf '\n== %s\n' "$*"; }

say "1. A private network namespace with a TAP device: the kernel is 10.0.0.1 on tap0"
netns_make NS demo
netns_tap "$NS" tap0 10.0.0.1/24
echo "   namespace $NS; tapstack will be 10.0.0.2 on the other end of tap0"

say "2. The kernel serves a 16 MiB file of random bytes (python3 -m http.server)"
head -c 16M /dev/urandom > "$WORK/file.bin"
want=$(sha256sum "$WORK/file.bin" | cut -d' ' -f1)
netns_bg "$NS" "$PY" -m http.server --bind 10.0.0.1 --directory "$WORK" 8000 >/dev/null 2>&1
netns_wait_port "$NS" 8000
echo "   sha256 $want"

say "3. An unmodified curl fetches it through tapstack (every TCP segment built by our stack)"
echo "   \$ tapstack curl -o got.bin http://10.0.0.1:8000/file.bin"
rx0=$(ip netns exec "$NS" cat /sys/class/net/tap0/statistics/rx_packets)
tx0=$(ip netns exec "$NS" cat /sys/class/net/tap0/statistics/tx_packets)
start=$(date +%s%N)
timeout -k 5 120 ip netns exec "$NS" env TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_GW=10.0.0.1 \
  TAPSTACK_LIB="$LIB" "$ROOT/scripts/tapstack" curl -sS --max-time 100 -o "$WORK/got.bin" http://10.0.0.1:8000/file.bin
ms=$(( ($(date +%s%N) - start) / 1000000 ))
got=$(sha256sum "$WORK/got.bin" | cut -d' ' -f1)
rx=$(( $(ip netns exec "$NS" cat /sys/class/net/tap0/statistics/rx_packets) - rx0 ))
tx=$(( $(ip netns exec "$NS" cat /sys/class/net/tap0/statistics/tx_packets) - tx0 ))
echo "   $(stat -c %s "$WORK/got.bin") bytes in $ms ms; sha256 $got"
echo "   on tap0 the kernel received $rx frames built by tapstack (SYN, ACKs, FIN) and sent $tx"

say "4. Verdict"
if [ "$got" = "$want" ]; then
  echo "   identical: the file crossed tapstack's TCP/IP intact. (The namespace is removed now.)"
else
  echo "   MISMATCH: tapstack delivered different bytes" >&2
  exit 1
fi
