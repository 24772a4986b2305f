#!/usr/bin/env bash
# D-SACK (RFC 2883) both ways with a kernel peer.
# 1. To a kernel sender: with TAPSTACK_FAULTS duplicating 3% of the frames, tapstack receives
#    some of the kernel's segments twice while downloading 8 MiB, and reports each duplicate in
#    the first SACK block of its next ACK. The kernel counts the D-SACK blocks it received (nstat
#    TcpExtTCPDSACKRecv, in this namespace only): at least one, where a receiver without D-SACK
#    leaves it at 0. Every byte arrives intact; the frames crossed tap0.
# 2. From a kernel receiver, over a path that reorders: 20 ms each way, 1% of the frames held
#    back 15 ms. tapstack uploads 16 MiB within 15 s (it took minutes when every late segment
#    was a loss: the window halved over and over), and its TCP_INFO says reordering was seen
#    (tcpi_reord_seen) and D-SACKs came (tcpi_dsack_dups), which undid spurious reductions.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
need_cmd nstat iproute2
shim_setup t49
netns_deadline 60

head -c 8M /dev/urandom > "$WORK/down"
want=$(sha "$WORK/down")
in_ns timeout 40 "$PY" -c "
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('10.0.0.1', 7190)); l.listen(1)
c, _ = l.accept(); c.sendall(open(sys.argv[1], 'rb').read()); c.close()
" "$WORK/down" &
for _ in $(seq 1 100); do in_ns ss -ltn | grep -q ':7190 ' && break; sleep 0.05; done
before=$(tap_bytes tx)
TAPSTACK_FAULTS=dup=0.03,seed=7 ts 40 "$PY" -c "
import socket, sys
s = socket.create_connection(('10.0.0.1', 7190), timeout=30)
with open(sys.argv[1], 'wb') as f:
    while True:
        b = s.recv(65536)
        if not b: break
        f.write(b)
" "$WORK/got"
crossed tx 8000000 "$before" "the download"
[ "$(sha "$WORK/got")" = "$want" ] || { echo "FAIL: the download differs"; exit 1; }
dsack=$(in_ns nstat -az TcpExtTCPDSACKRecv | awk '$1 == "TcpExtTCPDSACKRecv" { print $2 }')
echo "kernel sender: TCPDSACKRecv ${dsack:-?}"
[ "${dsack:-0}" -ge 1 ] || { echo "FAIL: the kernel received no D-SACK block"; exit 1; }

# A TAP has one stack, with the faults it started with: part 1's service (and its kernel
# server, done) go first, so that part 2's program starts one with the reordering path.
ns_kill_all
cat > "$WORK/up.py" <<'PY'
import socket, struct, sys, time
s = socket.create_connection(("10.0.0.1", 7191), timeout=30)
data = open(sys.argv[1], "rb").read()
t0 = time.time()
s.sendall(data); s.shutdown(socket.SHUT_WR)
r = s.recv(100).decode()
dt = time.time() - t0
info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
dsack, reord = struct.unpack_from("II", info, 216)
print("%s %.2f %d %d" % (r, dt, dsack, reord))
PY
head -c 16M /dev/urandom > "$WORK/up"
in_ns timeout 40 "$PY" -c "
import hashlib, socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('10.0.0.1', 7191)); l.listen(1)
c, _ = l.accept(); h = hashlib.sha256()
while True:
    b = c.recv(262144)
    if not b: break
    h.update(b)
c.sendall(h.hexdigest().encode()); c.close()
" &
for _ in $(seq 1 100); do in_ns ss -ltn | grep -q ':7191 ' && break; sleep 0.05; done
read -r got secs dsacks reord < <(TAPSTACK_FAULTS=delay=20ms,reorder=0.01,reorder_delay=15ms,seed=4 \
  ts 40 "$PY" "$WORK/up.py" "$WORK/up")
echo "upload over the reordering path: ${secs:-?} s, dsack_dups ${dsacks:-?}, reord_seen ${reord:-?}"
[ "$got" = "$(sha "$WORK/up")" ] || { echo "FAIL: the upload differs"; exit 1; }
awk -v s="$secs" 'BEGIN { exit !(s < 15) }' || { echo "FAIL: the upload took ${secs} s (>= 15)"; exit 1; }
[ "${reord:-0}" -ge 1 ] && [ "${dsacks:-0}" -ge 1 ] || { echo "FAIL: no reordering or D-SACK seen"; exit 1; }
echo "PASS: t_49_dsack"
