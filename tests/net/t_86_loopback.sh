#!/usr/bin/env bash
# tapstack's own loopback (issue 10): two shimmed processes exchange 16 MiB each way over
# 127.0.0.1 (TCP), and a UDP datagram each way; then the same over the stack's own address
# 10.0.0.2. Nothing of it appears on tap0, and it is not the kernel's loopback either: the
# namespace's lo counters do not move and no kernel socket listens on the port.
# Then: a port is free again as soon as close() returns, as with the kernel.
# Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t86

cat > "$WORK/peer.py" <<'PY'
import hashlib, socket, sys, threading, time
mode, host = sys.argv[1], sys.argv[2]
N = 16 << 20
def blob(seed):  # deterministic 16 MiB, the same in both processes
    out, h = bytearray(), hashlib.sha256(seed)
    while len(out) < N:
        h = hashlib.sha256(h.digest()); out += h.digest() * 64
    return bytes(out[:N])
def pump(c, data):
    def send():
        c.sendall(data); c.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=send); t.start()
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(1 << 16)
        if not b: break
        h.update(b); n += len(b)
    t.join()
    return n, h.hexdigest()
if mode == "server":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 7700)); s.listen(1)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((host, 7700))
    print("ready", flush=True)
    c, a = s.accept()
    n, h = pump(c, blob(b"server"))
    ok = n == N and h == hashlib.sha256(blob(b"client")).hexdigest()
    print("server got", n, "ok" if ok else "BAD", "peer", a[0], flush=True)
    u.settimeout(20)
    d, a = u.recvfrom(100)
    u.sendto(b"pong:" + d, a)
    print("server udp", d.decode(), a[0], flush=True)
else:
    for _ in range(100):
        try:
            c = socket.create_connection((host, 7700), timeout=30); break
        except OSError:
            time.sleep(0.1)
    n, h = pump(c, blob(b"client"))
    ok = n == N and h == hashlib.sha256(blob(b"server")).hexdigest()
    print("client got", n, "ok" if ok else "BAD", "local", c.getsockname()[0], flush=True)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(20)
    u.connect((host, 7700)); u.send(b"ping")
    print("client udp", u.recv(100).decode(), flush=True)
PY
lo() { in_ns cat "/sys/class/net/lo/statistics/$1_bytes"; }
for host in 127.0.0.1 10.0.0.2; do
  rx0=$(tap_bytes rx); tx0=$(tap_bytes tx); lo0=$(lo rx)
  ts 40 "$PY" "$WORK/peer.py" server "$host" > "$WORK/srv.out" 2> "$WORK/srv.err" &
  spid=$!
  _NETNS_PIDS+=("$spid")
  netns_wait_grep "$WORK/srv.out" '^ready' 15 || { echo "FAIL: server on $host did not start"; cat "$WORK/srv.err"; exit 1; }
  in_ns ss -Hltn 'sport = :7700' | grep -q . && { echo "FAIL: a kernel socket listens on :7700"; exit 1; }
  in_ns ss -Hlun 'sport = :7700' | grep -q . && { echo "FAIL: a kernel UDP socket is bound to :7700"; exit 1; }
  cout=$(ts 40 "$PY" "$WORK/peer.py" client "$host" 2> "$WORK/cli.err") || true
  rc=0; wait $spid || rc=$?
  srv=$(cat "$WORK/srv.out")
  [ "$srv" = "$(printf 'ready\nserver got 16777216 ok peer %s\nserver udp ping %s' "$host" "$host")" ] && [ $rc = 0 ] \
    || { echo "FAIL: server over $host (exit $rc): $srv"; cat "$WORK/srv.err"; exit 1; }
  [ "$cout" = "$(printf 'client got 16777216 ok local %s\nclient udp pong:ping' "$host")" ] \
    || { echo "FAIL: client over $host: $cout"; cat "$WORK/cli.err"; exit 1; }
  drx=$(( $(tap_bytes rx) - rx0 )); dtx=$(( $(tap_bytes tx) - tx0 )); dlo=$(( $(lo rx) - lo0 ))
  [ "$drx" -lt 65536 ] && [ "$dtx" -lt 65536 ] || { echo "FAIL: over $host, $drx/$dtx bytes crossed tap0 (loopback traffic must not)"; exit 1; }
  [ "$dlo" -lt 65536 ] || { echo "FAIL: over $host, the kernel's lo carried $dlo bytes (not tapstack's loopback)"; exit 1; }
  echo "ok: two shimmed processes exchanged 16 MiB each way + UDP over $host inside tapstack (tap0 $drx/$dtx bytes, kernel lo $dlo)"
done

# close() frees a port at once, as the kernel's does (the service learns a close from the hang-up
# of its end of the pair; a bind that finds the port taken first handles the hang-ups pending).
out=$(ts 60 "$PY" -c '
import socket
bad = 0
for i in range(100):
    for fam, ty, a in ((socket.AF_INET6, socket.SOCK_DGRAM, "::ffff:10.0.0.2"), (socket.AF_INET, socket.SOCK_DGRAM, "10.0.0.2"), (socket.AF_INET, socket.SOCK_STREAM, "0.0.0.0")):
        s = socket.socket(fam, ty)
        try:
            s.bind((a, 7701))
            if ty == socket.SOCK_STREAM: s.listen(1)
        except OSError:
            bad += 1
        s.close()
print("rebind failures", bad)' 2>&1) || true
[ "$out" = "rebind failures 0" ] || { echo "FAIL: bind right after close of the same port: $out"; exit 1; }
echo "ok: 300 binds of a port just closed (UDP over AF_INET6 and AF_INET, TCP listeners) all succeed"
