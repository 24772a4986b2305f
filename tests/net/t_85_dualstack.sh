#!/usr/bin/env bash
# Dual-stack sockets through tapstack (issue 10): a shimmed Python AF_INET6 client connects to
# ::ffff:10.0.0.1 and downloads byte-exact; a shimmed AF_INET6 server bound to :: serves a kernel
# client on 10.0.0.2; UDP over AF_INET6 both ways. The addresses are the ones Linux reports
# (('::ffff:a.b.c.d', port, 0, 0)), and the bytes cross tap0, not the kernel's stack.
# Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t85

head -c 4M /dev/urandom > "$WORK/file"
want=$(sha "$WORK/file")
netns_bg "$NS" "$PY" -m http.server --bind 10.0.0.1 --directory "$WORK" 8000
netns_wait_port "$NS" 8000

# 1. Client: AF_INET6 to the mapped address.
tx0=$(tap_bytes tx)
out=$(ts 60 "$PY" -c '
import hashlib, socket
c = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
print("v6only", c.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
c.settimeout(30)
c.connect(("::ffff:10.0.0.1", 8000))
print("peer", c.getpeername())
me = c.getsockname()
print("local", me[0], me[1] > 0, me[2:])
c.sendall(b"GET /file HTTP/1.0\r\nHost: x\r\n\r\n")
buf = b""
while True:
    b = c.recv(65536)
    if not b: break
    buf += b
body = buf.split(b"\r\n\r\n", 1)[1]
print("sha", hashlib.sha256(body).hexdigest())
' 2>&1) || true
expect=$(printf '%s\n' "v6only 0" "peer ('::ffff:10.0.0.1', 8000, 0, 0)" "local ::ffff:10.0.0.2 True (0, 0)" "sha $want")
[ "$out" = "$expect" ] || { echo "FAIL: AF_INET6 client:"; diff <(echo "$expect") <(echo "$out") || true; exit 1; }
crossed tx 4194304 "$tx0" "AF_INET6 client download"
echo "ok: AF_INET6 client to ::ffff:10.0.0.1 through tapstack, Linux's addresses, byte-exact"

# 2. Server: AF_INET6 bound to ::, a kernel client from 10.0.0.1 to 10.0.0.2.
cat > "$WORK/srv6.py" <<'PY'
import hashlib, socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 9000)); s.listen(4)
print("listening", s.getsockname(), flush=True)
c, a = s.accept()
print("accepted", a[0], a[2:], "peer-matches", c.getpeername() == a, flush=True)
print("local", c.getsockname(), flush=True)
h = hashlib.sha256()
n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
c.sendall(("%d %s %d\n" % (n, h.hexdigest(), a[1])).encode())
c.close()
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.bind(("::", 9000))
print("udp ready", flush=True)
u.settimeout(20)
d, a = u.recvfrom(100)
print("udp from", a[0], a[2:], d.decode(), flush=True)
u.sendto(b"pong", a)
PY
cat > "$WORK/cli4.py" <<'PY'
import hashlib, os, socket, time
data = os.urandom(2 << 20)
for _ in range(100):
    try:
        c = socket.create_connection(("10.0.0.2", 9000), timeout=30); break
    except OSError:
        time.sleep(0.1)
port = c.getsockname()[1]
c.sendall(data); c.shutdown(socket.SHUT_WR)
ans = b""
while True:
    b = c.recv(100)
    if not b: break
    ans += b
want = "%d %s %d\n" % (len(data), hashlib.sha256(data).hexdigest(), port)
print("tcp ok" if ans.decode() == want else "tcp bad %r want %r" % (ans, want), flush=True)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2)
for _ in range(20):
    u.sendto(b"ping", ("10.0.0.2", 9000))
    try:
        d, a = u.recvfrom(100); break
    except socket.timeout:
        d, a = b"", None
print("udp", d.decode(), a)
PY
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
ts 60 "$PY" "$WORK/srv6.py" > "$WORK/srv.out" 2> "$WORK/srv.err" &
spid=$!
_NETNS_PIDS+=("$spid")
netns_wait_grep "$WORK/srv.out" '^listening' 10 || { cat "$WORK/srv.err"; exit 1; }
in_ns ss -Hltn 'sport = :9000' | grep -q . && { echo "FAIL: a kernel socket listens on :9000 (the AF_INET6 server is not on tapstack)"; exit 1; }
cout=$(in_ns timeout 60 "$PY" "$WORK/cli4.py" 2>&1) || true
rc=0; wait $spid || rc=$?
sexp=$(printf '%s\n' "listening ('::', 9000, 0, 0)" "accepted ::ffff:10.0.0.1 (0, 0) peer-matches True" \
  "local ('::ffff:10.0.0.2', 9000, 0, 0)" "udp ready" "udp from ::ffff:10.0.0.1 (0, 0) ping")
[ "$(cat "$WORK/srv.out")" = "$sexp" ] && [ $rc = 0 ] || { echo "FAIL: AF_INET6 server (exit $rc):"; diff <(echo "$sexp") "$WORK/srv.out" || true; cat "$WORK/srv.err"; exit 1; }
[ "$cout" = "$(printf '%s\n' "tcp ok" "udp pong ('10.0.0.2', 9000)")" ] || { echo "FAIL: kernel client of the AF_INET6 server: $cout"; exit 1; }
crossed tx 2097152 "$tx0" "upload to the AF_INET6 server"
crossed rx 60 "$rx0" "answers of the AF_INET6 server"
echo "ok: AF_INET6 server bound to :: served a kernel IPv4 client (TCP and UDP), Linux's addresses"

# 3. Native IPv6 fails as on a host without an IPv6 route, and nothing goes out by the kernel.
out=$(ts 30 "$PY" -c '
import errno, socket
r = []
for addr, what in ((("2001:db8::1", 80), "connect"), (("2001:db8::5", 0), "bind")):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        (s.connect if what == "connect" else s.bind)(addr); r.append(what + " ok")
    except OSError as e:
        r.append(what + " " + errno.errorcode[e.errno])
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
try:
    u.sendto(b"x", ("2001:db8::1", 53)); r.append("sendto ok")
except OSError as e:
    r.append("sendto " + errno.errorcode[e.errno])
print(" ".join(r))' 2>&1) || true
[ "$out" = "connect ENETUNREACH bind EADDRNOTAVAIL sendto ENETUNREACH" ] || { echo "FAIL: native IPv6: $out"; exit 1; }
echo "ok: native IPv6: $out"
