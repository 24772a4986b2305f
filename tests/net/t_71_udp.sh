#!/usr/bin/env bash
# UDP through tapstack against the kernel, both directions: 10,000 datagrams of seeded random
# sizes up to 8,000 bytes (IP-fragmented) each way, checked byte for byte (c-tests/udp_peer);
# ICMP port unreachable <-> ECONNREFUSED on connected sockets only, both ways (udp_refused).
# Kernel side: TAP tap0 10.0.0.1/24 inside a private namespace. tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/netns-lib.sh"
netns_require_root
LIB=${TAPSTACK_LIB:-$ROOT/target/release/libtapstack_preload.so}
BIN=$ROOT/c-tests/bin
[ -r "$LIB" ] || { echo "FAIL: $LIB is not built (make build)"; exit 1; }
[ -x "$BIN/udp_peer" ] && [ -x "$BIN/udp_refused" ] || { echo "FAIL: c-tests not built (make c-tests)"; exit 1; }
WORK=$(mktemp -d)
trap 'netns_cleanup; rm -rf "$WORK"' EXIT
netns_make NS t71
netns_tap "$NS" tap0 10.0.0.1/24
in_ns() { ip netns exec "$NS" "$@"; }
ts() { local t=$1; shift; timeout -k 5 "$t" ip netns exec "$NS" env TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 \
        TAPSTACK_GW=10.0.0.1 TAPSTACK_LIB="$LIB" "$ROOT/scripts/tapstack" "$@"; }
# Frames the kernel's tap0 received (= sent by tapstack): proves a step really went through
# tapstack (a non-intercepted program would use the kernel stack of the namespace directly).
tap_rx() { in_ns cat /sys/class/net/tap0/statistics/rx_packets; }
mark() { MARK=$(tap_rx); }
crossed() { local d=$(( $(tap_rx) - MARK )); [ "$d" -ge "$1" ] || { echo "FAIL: $2: only $d frames crossed tap0 (not through tapstack?)"; exit 1; }; }
N=${UDP_N:-10000}
SEED=${UDP_SEED:-71}

# 1. tapstack client -> kernel server.
netns_bg "$NS" timeout 240 "$BIN/udp_peer" server 9000 "$N" "$SEED" 8000
kpid=$NETNS_LAST_PID
for _ in $(seq 1 50); do in_ns ss -Hlun 'sport = :9000' | grep -q . && break; sleep 0.1; done
mark
ts 240 "$BIN/udp_peer" client 10.0.0.1 9000 "$N" "$SEED" 8000 | tee "$WORK/c1"
crossed "$N" "udp_peer client"
wait "$kpid" || { echo "FAIL: kernel udp_peer server exited with $?"; exit 1; }
grep -q "^client: $N datagrams each way verified" "$WORK/c1" || { echo "FAIL: tapstack client did not verify $N datagrams"; exit 1; }
echo "ok: tapstack UDP client <-> kernel server: $N datagrams each way, byte for byte"

# 2. kernel client -> tapstack server (another seed).
SEED2=$((SEED + 1))
ts 240 "$BIN/udp_peer" server 9001 "$N" "$SEED2" 8000 > "$WORK/s2" 2>&1 &
spid=$!
for _ in $(seq 1 100); do grep -q "server: ready" "$WORK/s2" 2>/dev/null && break; sleep 0.1; done
grep -q "server: ready" "$WORK/s2" || { echo "FAIL: tapstack udp_peer server did not start"; cat "$WORK/s2"; exit 1; }

# 2a. While tapstack runs: a kernel socket connected to a closed tapstack port gets ECONNREFUSED
#     (tapstack answers ICMP port unreachable); an unconnected one sees nothing.
in_ns timeout 30 "$BIN/udp_refused" 10.0.0.2 9998 | tee "$WORK/r1"
echo "ok: kernel UDP socket connected to a closed tapstack port: ECONNREFUSED"

in_ns timeout 240 "$BIN/udp_peer" client 10.0.0.2 9001 "$N" "$SEED2" 8000 | tee "$WORK/c2"
wait "$spid" || { echo "FAIL: tapstack udp_peer server exited with $?"; cat "$WORK/s2"; exit 1; }
cat "$WORK/s2"
grep -q "^server: $N datagrams received and verified" "$WORK/s2" || { echo "FAIL: tapstack server did not verify $N"; exit 1; }
echo "ok: kernel UDP client <-> tapstack server: $N datagrams each way, byte for byte"

# 3. tapstack socket connected to a closed kernel port: the kernel's ICMP port unreachable
#    surfaces as ECONNREFUSED (connected socket only).
mark
ts 30 "$BIN/udp_refused" 10.0.0.1 9999 | tee "$WORK/r2"
crossed 2 "udp_refused"
echo "ok: tapstack UDP socket connected to a closed kernel port: ECONNREFUSED"
# Same program on the kernel stack alone: identical output (poll bits, errnos, once only).
in_ns timeout 30 "$BIN/udp_refused" 10.0.0.1 9999 > "$WORK/r3"
diff "$WORK/r3" "$WORK/r2" || { echo "FAIL: udp_refused differs between the kernel and tapstack"; exit 1; }
diff "$WORK/r3" "$WORK/r1" || { echo "FAIL: udp_refused (kernel -> tapstack port) differs"; exit 1; }
echo "ok: udp_refused output identical to the kernel's"

# 3b. A lossy, duplicating, reordering, corrupting link (our fault injector on the tapstack side):
#     lost fragments lose whole datagrams, which udp_peer resends; corrupted ones must be dropped
#     by the checksums (any bad byte delivered fails the byte-for-byte check); duplicates and
#     reordering are absorbed by the sequence numbers.
netns_bg "$NS" timeout 240 "$BIN/udp_peer" server 9002 500 "$((SEED + 2))" 8000
kpid=$NETNS_LAST_PID
for _ in $(seq 1 50); do in_ns ss -Hlun 'sport = :9002' | grep -q . && break; sleep 0.1; done
mark
svc_idle
ts 240 env TAPSTACK_FAULTS="loss=0.005,dup=0.01,reorder=0.02,corrupt=0.005,seed=$SEED" \
  "$BIN/udp_peer" client 10.0.0.1 9002 500 "$((SEED + 2))" 8000 2>&1 | tee "$WORK/c3"
wait "$kpid" || { echo "FAIL: kernel udp_peer server (faulty link) exited with $?"; exit 1; }
crossed 500 "udp_peer client on a faulty link"
grep -q "^client: 500 datagrams each way verified" "$WORK/c3" || { echo "FAIL: faulty link run"; exit 1; }
echo "ok: 500 datagrams each way intact over a lossy/corrupting link ($(grep -o '[0-9]* resent' "$WORK/c3"))"

# 3c. Socket-API details from Python, checked on the kernel first (validates the script), then
#     through tapstack: SO_BROADCAST/EACCES (subnet and limited broadcast), 65,507-byte
#     datagrams (EMSGSIZE above), select, FIONREAD, MSG_PEEK, MSG_TRUNC, getsockname/getpeername.
cat > "$WORK/udp_echo.py" <<'PY'
# UDP echo server: binds 0.0.0.0:PORT (so it also gets broadcasts), echoes every datagram.
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(1)
end = time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        d, a = s.recvfrom(70000)
    except socket.timeout:
        continue
    s.sendto(d, a)
PY
cat > "$WORK/udp_api.py" <<'PY'
# Socket-API checks of UDP (run under the kernel and under tapstack; both must pass).
import os, select, socket, struct, sys, fcntl, termios, errno
peer = (sys.argv[1], int(sys.argv[2]))
bcast = sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for dst in (bcast, "255.255.255.255"):
    try:
        s.sendto(b"x", (dst, peer[1]))
        raise SystemExit("broadcast without SO_BROADCAST was allowed: " + dst)
    except PermissionError:
        pass
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.sendto(b"bcast", (bcast, peer[1]))
data, addr = s.recvfrom(100)
assert data == b"bcast" and addr[1] == peer[1], (data, addr)
big = os.urandom(65507)
s.sendto(big, peer)
data, addr = s.recvfrom(70000)
assert data == big and addr == peer, (len(data), addr)
try:
    s.sendto(b"y" * 65508, peer)
    raise SystemExit("65508-byte datagram was accepted")
except OSError as e:
    assert e.errno == errno.EMSGSIZE, e
s.sendto(b"0123456789", peer)
r, _, _ = select.select([s], [], [], 5)
assert r == [s], "select did not report the echo"
n = struct.unpack("i", fcntl.ioctl(s, termios.FIONREAD, b"\0\0\0\0"))[0]
assert n == 10, n
assert s.recv(4, socket.MSG_PEEK) == b"0123"
data, anc, flags, addr = s.recvmsg(4)
assert data == b"0123" and flags & socket.MSG_TRUNC and addr == peer, (data, flags, addr)
n = struct.unpack("i", fcntl.ioctl(s, termios.FIONREAD, b"\0\0\0\0"))[0]
assert n == 0, n
s.setblocking(False)
try:
    s.recv(10)
    raise SystemExit("recv on an empty socket did not block")
except BlockingIOError:
    pass
s.close()
# getsockname after an implicit bind; connect + getpeername; AF_UNSPEC disconnect.
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.connect(peer)
assert c.getpeername() == peer
host, port = c.getsockname()
assert port >= 1024 and host != "0.0.0.0", (host, port)
c.send(b"ping")
c.settimeout(5)
assert c.recv(10) == b"ping"
c.close()
print("udp api ok")
PY
PY3=/usr/bin/python3; [ -x "$PY3" ] || PY3=$(command -v python3)
netns_bg "$NS" "$PY3" "$WORK/udp_echo.py" 9200 60
for _ in $(seq 1 50); do in_ns ss -Hlun 'sport = :9200' | grep -q . && break; sleep 0.1; done
in_ns ip route add default dev tap0 2>/dev/null || true   # a route for 255.255.255.255
in_ns timeout 30 "$PY3" "$WORK/udp_api.py" 10.0.0.1 9200 10.0.0.255 | grep -q 'udp api ok' \
  || { echo "FAIL: udp_api.py does not pass on the kernel itself"; exit 1; }
svc_idle   # the lossy link of 3b belongs to the service that ran it
mark
ts 30 "$PY3" "$WORK/udp_api.py" 10.0.0.1 9200 10.0.0.255 | grep -q 'udp api ok' \
  || { echo "FAIL: udp_api.py through tapstack"; exit 1; }
crossed 40 "udp_api.py"
echo "ok: python UDP API details (broadcast, 65507 bytes, FIONREAD, PEEK, TRUNC) through tapstack"

# 4. Unmodified programs over tapstack UDP: nc -u both ways, iperf3 -u against the kernel.
if command -v nc >/dev/null; then
  netns_bg "$NS" sh -c "timeout 20 nc -u -l -W 1 10.0.0.1 9100 > '$WORK/nc1'"
  npid=$NETNS_LAST_PID
  for _ in $(seq 1 50); do in_ns ss -Hlun 'sport = :9100' | grep -q . && break; sleep 0.1; done
  mark
  printf 'hello over tapstack udp\n' | ts 20 nc -u -w 1 10.0.0.1 9100 || true
  for _ in $(seq 1 50); do grep -q hello "$WORK/nc1" 2>/dev/null && break; sleep 0.1; done
  kill "$npid" 2>/dev/null || true
  grep -qx 'hello over tapstack udp' "$WORK/nc1" || { echo "FAIL: nc -u client: kernel got '$(cat "$WORK/nc1")'"; exit 1; }
  crossed 1 "nc -u client"
  echo "ok: tapstack nc -u -> kernel nc -u -l"
  # -W 1: exit after one datagram (the stack and its TAP go away with the process).
  ts 20 sh -c "nc -u -l -W 1 10.0.0.2 9101 > '$WORK/nc2'" &
  tpid=$!
  for _ in $(seq 1 60); do
    printf 'hello from the kernel\n' | in_ns nc -u -w 0 10.0.0.2 9101 2>/dev/null || true
    grep -q hello "$WORK/nc2" 2>/dev/null && break; sleep 0.25
  done
  wait "$tpid" || true
  grep -q 'hello from the kernel' "$WORK/nc2" || { echo "FAIL: nc -u server under tapstack got nothing"; exit 1; }
  echo "ok: kernel nc -u -> tapstack nc -u -l"
fi
if command -v iperf3 >/dev/null; then
  netns_bg "$NS" iperf3 -s -1 -B 10.0.0.1 -p 5299
  netns_wait_port "$NS" 5299
  mark
  ts 60 iperf3 -c 10.0.0.1 -p 5299 -u -b 20M -l 1400 -t 2 --json > "$WORK/iperf.json" || { echo "FAIL: iperf3 -u"; exit 1; }
  crossed 3000 "iperf3 -u"
  python3 - "$WORK/iperf.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
s = j["end"]["sum"]
assert s["packets"] > 1000, s
assert s["lost_percent"] < 5, s
print("ok: iperf3 -u through tapstack: %d datagrams, %.2f%% lost, %.1f Mbit/s" % (s["packets"], s["lost_percent"], s["bits_per_second"] / 1e6))
PY
fi
