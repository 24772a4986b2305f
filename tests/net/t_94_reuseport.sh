#!/usr/bin/env bash
# SO_REUSEPORT across processes (issue 10, "Many processes, one host"): two shimmed processes
# listen on one port with SO_REUSEPORT and the kernel's 60 connections are spread over both, as
# Linux spreads them; a third process without SO_REUSEPORT gets EADDRINUSE.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t94
# Each listener accepts until the test says stop (the file $WORK/stop; at most 50 s). It used to
# stop after 4 s without a connection, which the starts of B, the EADDRINUSE check and the client
# could take on a busy machine: then B got every connection.
srv='
import os, socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("0.0.0.0", 9000)); s.listen(64)
open(sys.argv[2], "w").close()
s.settimeout(0.2)
n, end = 0, time.time() + 50
while time.time() < end and not os.path.exists(sys.argv[3]):
    try:
        c, _ = s.accept(); c.sendall(sys.argv[1].encode()); c.close(); n += 1
    except socket.timeout:
        pass
print(sys.argv[1], n, flush=True)
'
ts 60 "$PY" -c "$srv" A "$WORK/a.ready" "$WORK/stop" > "$WORK/a.out" 2> "$WORK/a.err" &
_NETNS_PIDS+=($!)
for _ in $(seq 100); do [ -e "$WORK/a.ready" ] && break; sleep 0.1; done
ts 60 "$PY" -c "$srv" B "$WORK/b.ready" "$WORK/stop" > "$WORK/b.out" 2> "$WORK/b.err" &
_NETNS_PIDS+=($!)
for _ in $(seq 100); do [ -e "$WORK/b.ready" ] && break; sleep 0.1; done
[ -e "$WORK/a.ready" ] && [ -e "$WORK/b.ready" ] || { echo "FAIL: the two listeners did not start:"; cat "$WORK/a.err" "$WORK/b.err"; exit 1; }
out=$(ts 20 "$PY" -c '
import socket
s = socket.socket(); s.bind(("0.0.0.0", 9000))' 2>&1 || true)
grep -q "Errno 98" <<<"$out" || { echo "FAIL: a listener without SO_REUSEPORT joined: $out"; exit 1; }
echo "ok: bind without SO_REUSEPORT on the shared port: EADDRINUSE"
rx0=$(tap_bytes rx)
got=$(in_ns "$PY" -c '
import socket
r = []
for i in range(60):
    c = socket.create_connection(("10.0.0.2", 9000), timeout=5)
    r.append(c.recv(1).decode()); c.close()
print(r.count("A"), r.count("B"))')
touch "$WORK/stop"
wait
read -r a b <<<"$got"
echo "   kernel client: $a connections answered by A, $b by B; A says '$(cat "$WORK/a.out")', B says '$(cat "$WORK/b.out")'"
[ $((a + b)) -eq 60 ] || { echo "FAIL: $((a + b)) of 60 answered"; exit 1; }
[ "$a" -ge 10 ] && [ "$b" -ge 10 ] || { echo "FAIL: connections not spread over both processes ($a / $b)"; exit 1; }
[ "$(cat "$WORK/a.out")" = "A $a" ] && [ "$(cat "$WORK/b.out")" = "B $b" ] || { echo "FAIL: the processes' counts differ from the client's"; exit 1; }
crossed rx 3000 "$rx0" "60 connections"
echo "ok: SO_REUSEPORT spreads 60 connections over two shimmed processes"
