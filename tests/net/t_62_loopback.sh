#!/usr/bin/env bash
# tapstack's own loopback (issue 10): in one shimmed python process, a server and a client talk
# over 127.0.0.1, over ::1 (AF_INET6) and over tapstack's own address 10.0.0.2: TCP 16 MiB
# byte-exact, UDP both ways, bind(127.0.0.1) works, the names are the loopback ones. Nothing
# of it appears on the TAP: the stack's pcap has no TCP or UDP packet and the TAP counters
# barely move. (Between processes this needs the shared stack; here one process holds it.)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
command -v tcpdump >/dev/null || { echo "FAIL: tcpdump is not installed (make deps)"; exit 1; }
shim_setup t62
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
ts 120 env TAPSTACK_PCAP="$WORK/lo.pcap" "$PY" -c '
import hashlib, os, socket, threading
N = 16 << 20
blob = os.urandom(1 << 20) * 16
want = hashlib.sha256(blob).hexdigest()
def tcp_pair(fam, host, bind_host):
    l = socket.socket(fam, socket.SOCK_STREAM)
    l.bind((bind_host, 0)); l.listen(1)
    port = l.getsockname()[1]
    res = {}
    def serve():
        c, a = l.accept(); res["peer"] = a; res["local"] = c.getsockname()
        h = hashlib.sha256(); n = 0
        while True:
            b = c.recv(1 << 20)
            if not b: break
            h.update(b); n += len(b)
        res["sha"], res["n"] = h.hexdigest(), n
        c.sendall(b"done %d" % n); c.close()
    t = threading.Thread(target=serve); t.start()
    c = socket.socket(fam, socket.SOCK_STREAM); c.settimeout(60)
    c.connect((host, port)); me = c.getsockname()
    c.sendall(blob); c.shutdown(socket.SHUT_WR)
    ans = c.recv(100); c.close(); t.join(60)
    assert res["n"] == N and res["sha"] == want, ("bytes differ", res.get("n"))
    assert ans == b"done %d" % N, ans
    assert res["peer"][:2] == me[:2], (res["peer"], me)
    return me, res["local"]
me, srv = tcp_pair(socket.AF_INET, "127.0.0.1", "127.0.0.1")
assert me[0] == "127.0.0.1" and srv == ("127.0.0.1", srv[1]), (me, srv)
print("tcp 127.0.0.1 16 MiB ok", me, srv)
me, srv = tcp_pair(socket.AF_INET, "10.0.0.2", "0.0.0.0")
assert me[0] == "10.0.0.2" and srv[0] == "10.0.0.2", (me, srv)
print("tcp own address 16 MiB ok", me, srv)
me, srv = tcp_pair(socket.AF_INET6, "::1", "::")
assert me[0] == "::1", me
print("tcp ::1 16 MiB ok", me, srv)
# UDP over the loopback both ways.
u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u1.bind(("127.0.0.1", 0)); u1.settimeout(5)
u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u2.settimeout(5)
u2.sendto(b"ping", u1.getsockname())
d, a = u1.recvfrom(100); assert d == b"ping" and a[0] == "127.0.0.1", (d, a)
u1.sendto(b"pong", a); d, a2 = u2.recvfrom(100); assert d == b"pong" and a2 == u1.getsockname(), (d, a2)
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.settimeout(5)
u6.sendto(b"six", ("::ffff:127.0.0.1", u1.getsockname()[1]))
d, a = u1.recvfrom(100); assert d == b"six" and a[0] == "127.0.0.1", (d, a)
u1.sendto(b"back", a); d, a3 = u6.recvfrom(100); assert d == b"back" and a3[:2] == ("::ffff:127.0.0.1", u1.getsockname()[1]), a3
print("udp loopback ok")
' | tee "$WORK/out"
[ "$(grep -c ' ok' "$WORK/out")" = 4 ] || { echo "FAIL: loopback checks"; exit 1; }
n=$(tcpdump -nn -r "$WORK/lo.pcap" 'tcp or udp' 2>/dev/null | wc -l)
[ "$n" = 0 ] || { echo "FAIL: $n TCP/UDP packets of the loopback traffic went to the device"; exit 1; }
drx=$(( $(tap_bytes rx) - rx0 )); dtx=$(( $(tap_bytes tx) - tx0 ))
[ "$drx" -lt 10000 ] && [ "$dtx" -lt 10000 ] || { echo "FAIL: the TAP moved rx $drx tx $dtx bytes"; exit 1; }
echo "ok: 3 x 16 MiB over tapstack's loopback, UDP both ways; pcap has no TCP/UDP, TAP rx +$drx tx +$dtx bytes"
