#!/usr/bin/env bash
# Corruption between the stack and the TAP (TAPSTACK_FAULTS corrupt=) must never reach a
# program: a corrupted frame keeps its bad checksum and the kernel drops it (phy/gso.rs: a
# segment whose sums do not verify is not joined into a super-frame, whose sum the kernel would
# compute afresh over the corrupted bytes). Uploads 4 MiB from tapstack nc to a kernel nc, and
# the kernel downloads 4 MiB from a tapstack HTTP server, and tapstack nc downloads 4 MiB from a
# kernel nc in wire-sized frames (the fault injector sees segments, not super-frames); sha256
# equal every way.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t98
FAULTS=TAPSTACK_FAULTS=corrupt=0.02,seed=3

head -c 4M /dev/urandom > "$WORK/payload"
want=$(sha "$WORK/payload")

# 1. tapstack client -> kernel listener.
netns_bg "$NS" sh -c "exec nc -l 10.0.0.1 7001 > '$WORK/recv1'"
lpid=$NETNS_LAST_PID
netns_wait_port "$NS" 7001
rx0=$(tap_bytes rx)
ts 60 env "$FAULTS" nc -N 10.0.0.1 7001 < "$WORK/payload"
for _ in $(seq 1 100); do kill -0 "$lpid" 2>/dev/null || break; sleep 0.1; done
got=$(sha "$WORK/recv1")
[ "$got" = "$want" ] || { echo "FAIL: upload: listener got $(stat -c %s "$WORK/recv1") bytes, sha256 differs"; exit 1; }
crossed rx 4194304 "$rx0" "upload"
echo "ok: 4 MiB uploaded through a corrupting link, sha256 equal"

# 2. kernel client <- tapstack HTTP server (the same service: same faults).
ts 60 env "$FAULTS" "$PY" -m http.server --bind 10.0.0.2 --directory "$WORK" 8080 >/dev/null 2>&1 &
ok=0
for _ in $(seq 1 100); do
  in_ns timeout 2 curl -s -o /dev/null http://10.0.0.2:8080/ 2>/dev/null && { ok=1; break; }
  sleep 0.1
done
[ "$ok" = 1 ] || { echo "FAIL: the tapstack HTTP server did not answer"; exit 1; }
rx0=$(tap_bytes rx)
in_ns timeout 60 curl -sS --max-time 50 -o "$WORK/recv2" http://10.0.0.2:8080/payload
got=$(sha "$WORK/recv2")
[ "$got" = "$want" ] || { echo "FAIL: download: curl got $(stat -c %s "$WORK/recv2") bytes, sha256 differs"; exit 1; }
crossed rx 4194304 "$rx0" "download"
echo "ok: 4 MiB downloaded from tapstack through a corrupting link, sha256 equal"

# 3. tapstack client <- kernel sender. With faults on, the kernel must hand the TAP wire-sized
# frames (the receive offload off: a fault applies to one segment, as on a wire, not to a
# 64 KiB super-frame of 45 segments), and what arrives corrupted is dropped by our checksums.
netns_bg "$NS" sh -c "exec nc -N -l 10.0.0.1 7002 < '$WORK/payload'"
netns_wait_port "$NS" 7002
frames0=$(in_ns cat /sys/class/net/tap0/statistics/tx_packets)
ts 60 env "$FAULTS" nc -d 10.0.0.1 7002 > "$WORK/recv3"
got=$(sha "$WORK/recv3")
[ "$got" = "$want" ] || { echo "FAIL: kernel -> tapstack: got $(stat -c %s "$WORK/recv3") bytes, sha256 differs"; exit 1; }
frames=$(( $(in_ns cat /sys/class/net/tap0/statistics/tx_packets) - frames0 ))
echo "   kernel -> tapstack: 4 MiB in $frames frames"
[ "$frames" -ge 2800 ] || { echo "FAIL: the kernel sent $frames frames for 4 MiB: super-frames reached the fault injector"; exit 1; }
echo "ok: 4 MiB downloaded by tapstack through a corrupting link in wire-sized frames, sha256 equal"
