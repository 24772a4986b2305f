#!/usr/bin/env bash
# `socat TCP-LISTEN:9000,fork,reuseaddr TCP:10.0.0.1:9001` shimmed: each connection is served
# by a forked child that inherits the accepted socket and opens a new one (issue 10: fork after
# the stack started). 20 sequential and then 10 concurrent kernel clients each send 256 KiB of
# their own random data to 10.0.0.2:9000 and must get exactly it back from the kernel echo
# server behind the relay. Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
command -v socat >/dev/null || { echo "FAIL: socat is not installed (make deps)"; exit 1; }
shim_setup t81

write_echo_server "$WORK/echo.py"  # a kernel TCP echo server on 10.0.0.1:9001
cat > "$WORK/clients.py" <<'PY'
import os, socket, sys, threading, time
N = 256 * 1024
def one(i, out):
    data = os.urandom(N)
    c = socket.create_connection(("10.0.0.2", 9000), timeout=30)
    def send():
        c.sendall(data)
    t = threading.Thread(target=send); t.start()
    got = bytearray()
    while len(got) < N:  # everything comes back before we half-close
        b = c.recv(65536)
        if not b:
            break
        got += b
    t.join()
    c.shutdown(socket.SHUT_WR)
    rest = c.recv(1)  # then the relay passes the end of stream both ways
    c.close()
    out[i] = "ok" if bytes(got) == data and rest == b"" else "client %d: got %d/%d bytes, equal=%s, rest=%r" % (
        i, len(got), N, bytes(got[:N]) == data[:len(got)], rest)
mode, n = sys.argv[1], int(sys.argv[2])
out = [None] * n
if mode == "seq":
    for i in range(n):
        one(i, out)
else:
    ts = [threading.Thread(target=one, args=(i, out)) for i in range(n)]
    for t in ts: t.start()
    for t in ts: t.join()
bad = [o for o in out if o != "ok"]
print("all ok" if not bad else "\n".join(str(b) for b in bad))
PY
netns_bg "$NS" "$PY" "$WORK/echo.py"
netns_wait_port "$NS" 9001
ts 180 socat TCP-LISTEN:9000,fork,reuseaddr,bind=10.0.0.2 TCP:10.0.0.1:9001 2> "$WORK/socat.err" &
spid=$!
_NETNS_PIDS+=("$spid")
# Wait until the relay answers (a kernel client gets an echo through it).
ok=0
for _ in $(seq 1 100); do
  if [ "$(echo hi | in_ns timeout 3 nc -N 10.0.0.2 9000 2>/dev/null)" = hi ]; then ok=1; break; fi
  kill -0 "$spid" 2>/dev/null || break
  sleep 0.1
done
[ $ok = 1 ] || { echo "FAIL: the shimmed socat relay does not answer"; cat "$WORK/socat.err"; exit 1; }
in_ns ss -Hltn 'sport = :9000' | grep -q . && { echo "FAIL: a kernel socket listens on :9000 (socat is not on tapstack)"; exit 1; }

rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
out=$(in_ns timeout 120 "$PY" "$WORK/clients.py" seq 20) || true
[ "$out" = "all ok" ] || { echo "FAIL: sequential clients:"; echo "$out"; cat "$WORK/socat.err"; exit 1; }
# Each byte crosses tap0 twice each way (client -> relay -> server, and back).
crossed tx $((2 * 20 * 262144)) "$tx0" "20 sequential clients"
crossed rx $((2 * 20 * 262144)) "$rx0" "20 sequential clients"
echo "ok: 20 sequential kernel clients relayed byte-exact by the shimmed socat"

rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
out=$(in_ns timeout 120 "$PY" "$WORK/clients.py" par 10) || true
[ "$out" = "all ok" ] || { echo "FAIL: concurrent clients:"; echo "$out"; cat "$WORK/socat.err"; exit 1; }
crossed tx $((2 * 10 * 262144)) "$tx0" "10 concurrent clients"
crossed rx $((2 * 10 * 262144)) "$rx0" "10 concurrent clients"
kill -0 "$spid" 2>/dev/null || { echo "FAIL: socat exited"; cat "$WORK/socat.err"; exit 1; }
if [ -s "$WORK/socat.err" ]; then echo "FAIL: socat complained:"; cat "$WORK/socat.err"; exit 1; fi
echo "ok: 10 concurrent kernel clients relayed byte-exact by the shimmed socat (a child each)"
