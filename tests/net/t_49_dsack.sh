#!/usr/bin/env bash
# D-SACK (RFC 2883) to a kernel sender: with TAPSTACK_FAULTS duplicating 3% of the frames,
# tapstack receives some of the kernel's segments twice while downloading 8 MiB, and reports
# each duplicate in the first SACK block of its next ACK. The kernel counts the D-SACK blocks it
# received (nstat TcpExtTCPDSACKRecv, in this namespace only): at least one, where a receiver
# without D-SACK leaves it at 0. Every byte arrives intact; the frames crossed tap0.
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
echo "PASS: t_49_dsack"
