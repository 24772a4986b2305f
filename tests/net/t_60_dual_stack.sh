#!/usr/bin/env bash
# Dual-stack AF_INET6 sockets through tapstack (issue 10):
# 1. dual-table.py (raw sockaddr buffers through bind/connect/sendto, IPV6_V6ONLY, getsockname
#    truncation) prints the same errno table under tapstack as Linux gives in a reference
#    namespace whose kernel owns 10.0.0.2 (tapstack's address in the test).
# 2. A python AF_INET6 client to ::ffff:10.0.0.1 downloads from a kernel server, byte-exact,
#    with the names Linux reports, through the TAP.
# 3. An AF_INET6 server bound to :: (dual-stack) serves a kernel client on 10.0.0.1; accept
#    and getsockname report mapped addresses.
# 4. UDP on AF_INET6: sendto ::ffff:10.0.0.1, recvfrom reports the mapped source.
# 5. A V6ONLY socket on [::]:P and an IPv4 socket on 0.0.0.0:P coexist (as on Linux); the
#    kernel client reaches the IPv4 one. Native IPv6 destinations give ENETUNREACH.
# 6. getaddrinfo(AF_INET6, AI_V4MAPPED) gives the mapped address of an IPv4 name.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t60
netns_make NSREF t60ref
netns_tap "$NSREF" tap0 10.0.0.2/24

# 1. The errno table.
ip netns exec "$NSREF" "$PY" "$ROOT/tests/net/dual-table.py" > "$WORK/kernel.txt"
ts 60 "$PY" "$ROOT/tests/net/dual-table.py" > "$WORK/tapstack.txt"
[ "$(wc -l < "$WORK/kernel.txt")" -gt 200 ] || { echo "FAIL: the reference table is short"; exit 1; }
diff "$WORK/kernel.txt" "$WORK/tapstack.txt" || { echo "FAIL: errno table differs from Linux (above)"; exit 1; }
echo "ok: dual-stack errno table: $(wc -l < "$WORK/kernel.txt") rows identical to Linux"

# 2. AF_INET6 client to a mapped address.
head -c 1M /dev/urandom > "$WORK/file"
want=$(sha "$WORK/file")
netns_bg "$NS" "$PY" -m http.server --bind 10.0.0.1 --directory "$WORK" 8000
netns_wait_port "$NS" 8000
before=$(tap_bytes tx)
ts 60 "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.connect(("::ffff:10.0.0.1", 8000))
peer, me = s.getpeername(), s.getsockname()
assert peer == ("::ffff:10.0.0.1", 8000, 0, 0), peer
assert me[0] == "::ffff:10.0.0.2" and me[1] > 0, me
assert s.family == socket.AF_INET6 and s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) == socket.AF_INET6
s.sendall(b"GET /file HTTP/1.0\r\n\r\n")
data = b""
while True:
    b = s.recv(65536)
    if not b: break
    data += b
body = data.split(b"\r\n\r\n", 1)[1]
open(sys.argv[1], "wb").write(body)
print("client names", me, peer)
' "$WORK/got" | tee "$WORK/c.out"
[ "$(sha "$WORK/got")" = "$want" ] || { echo "FAIL: AF_INET6 download differs"; exit 1; }
crossed tx 1000000 "$before" "AF_INET6 client download"
echo "ok: AF_INET6 client to ::ffff:10.0.0.1, 1 MiB byte-exact"

# 3. AF_INET6 server on :: (dual-stack) with a kernel client.
ts 30 "$PY" -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 9000)); s.listen(4)
assert s.getsockname() == ("::", 9000, 0, 0), s.getsockname()
open("'"$WORK"'/ready", "w").close()
c, a = s.accept()
assert a[0] == "::ffff:10.0.0.1" and a[2:] == (0, 0), a
assert c.getsockname() == ("::ffff:10.0.0.2", 9000, 0, 0), c.getsockname()
assert c.getpeername() == a
data = b""
while not data.endswith(b"\n"):
    data += c.recv(100)
c.sendall(b"echo " + data); c.close()
print("server accepted", a)
' > "$WORK/srv.out" 2>&1 &
srv=$!
for _ in $(seq 100); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
before=$(tap_bytes rx)
reply=$(in_ns "$PY" -c '
import socket
c = socket.create_connection(("10.0.0.2", 9000), timeout=10)
c.sendall(b"hello v6\n"); print(c.recv(100).decode().strip())')
wait $srv || { echo "FAIL: AF_INET6 server"; cat "$WORK/srv.out"; exit 1; }
[ "$reply" = "echo hello v6" ] || { echo "FAIL: server reply '$reply'"; cat "$WORK/srv.out"; exit 1; }
crossed rx 100 "$before" "AF_INET6 server"
echo "ok: AF_INET6 server on :: served a kernel client ($(cat "$WORK/srv.out"))"

# 4. UDP on AF_INET6.
netns_bg "$NS" "$PY" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.0.0.1", 9053))
for _ in range(2):
    d, a = s.recvfrom(100); s.sendto(b"re:" + d, a)'
netns_wait_udp_port "$NS" 9053
ts 30 "$PY" -c '
import socket
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.settimeout(5)
u.sendto(b"one", ("::ffff:10.0.0.1", 9053))
d, a = u.recvfrom(100)
assert d == b"re:one" and a == ("::ffff:10.0.0.1", 9053, 0, 0), (d, a)
u.connect(("::ffff:10.0.0.1", 9053)); u.send(b"two")
assert u.recv(100) == b"re:two"
assert u.getpeername() == ("::ffff:10.0.0.1", 9053, 0, 0)
for dst, err in ((("2001:db8::1", 53), "ENETUNREACH"),):
    try:
        u2 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u2.sendto(b"x", dst); raise SystemExit("native v6 sent")
    except OSError as e:
        import errno; assert errno.errorcode[e.errno] == err, e
t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
try:
    t.connect(("2001:db8::1", 80)); raise SystemExit("native v6 connected")
except OSError as e:
    import errno; assert e.errno == errno.ENETUNREACH, e
print("udp ok")' | grep -q "udp ok" || { echo "FAIL: AF_INET6 UDP"; exit 1; }
echo "ok: AF_INET6 UDP to/from ::ffff:10.0.0.1; native IPv6 gives ENETUNREACH"

# 5. V6ONLY [::]:9100 and 0.0.0.0:9100 side by side.
rm -f "$WORK/ready"
ts 30 "$PY" -c '
import socket
v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
v6.bind(("::", 9100)); v6.listen(4)
assert v6.getsockname() == ("::", 9100, 0, 0)
v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM); v4.bind(("0.0.0.0", 9100)); v4.listen(4)
v6.setblocking(False)
open("'"$WORK"'/ready", "w").close()
c, a = v4.accept(); c.sendall(b"v4 listener\n"); c.close()
try:
    v6.accept(); raise SystemExit("the V6ONLY listener got an IPv4 connection")
except BlockingIOError:
    pass
print("v6only ok")' > "$WORK/v6only.out" 2>&1 &
srv=$!
for _ in $(seq 100); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
reply=$(in_ns "$PY" -c '
import socket
c = socket.create_connection(("10.0.0.2", 9100), timeout=10); print(c.recv(100).decode().strip())')
wait $srv || { echo "FAIL: V6ONLY side by side"; cat "$WORK/v6only.out"; exit 1; }
[ "$reply" = "v4 listener" ] && grep -q "v6only ok" "$WORK/v6only.out" || { echo "FAIL: V6ONLY: $reply"; cat "$WORK/v6only.out"; exit 1; }
echo "ok: V6ONLY [::]:9100 and 0.0.0.0:9100 coexist; the IPv4 client reached the IPv4 listener"

# 6. The resolver: AF_INET6 + AI_V4MAPPED.
printf '10.0.0.1 dual.test\n' > "$WORK/hosts"
TAPSTACK_HOSTS="$WORK/hosts" ts 30 "$PY" -c '
import socket
ai = socket.getaddrinfo("dual.test", 80, socket.AF_INET6, socket.SOCK_STREAM, 0, socket.AI_V4MAPPED)
assert ai[0][0] == socket.AF_INET6 and ai[0][4] == ("::ffff:10.0.0.1", 80, 0, 0), ai
try:
    socket.getaddrinfo("dual.test", 80, socket.AF_INET6, socket.SOCK_STREAM); raise SystemExit("no AI_V4MAPPED")
except socket.gaierror:
    pass
print("gai ok")' | grep -q "gai ok" || { echo "FAIL: getaddrinfo AF_INET6 AI_V4MAPPED"; exit 1; }
echo "ok: getaddrinfo(AF_INET6, AI_V4MAPPED) -> ::ffff:10.0.0.1"
