#!/usr/bin/env bash
# inetd style (issue 10, fork and exec): a shimmed parent accepts, forks, and the child dup2s
# the connection onto 0 and 1 and execs a program that reads its request from stdin and answers
# on stdout (sha256sum of everything the client sent; then `sh` reading a line). The parent goes
# on accepting. Kernel clients get the answers. Kernel side: tap0 10.0.0.1/24; tapstack: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t84

cat > "$WORK/inetd.py" <<'PY'
import os, socket, sys
prog = sys.argv[1:]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.0.2", 7000)); s.listen(8)
kids = []
for i in range(3):
    c, _ = s.accept()
    pid = os.fork()
    if pid == 0:
        s.close()
        os.dup2(c.fileno(), 0); os.dup2(c.fileno(), 1)
        c.close()
        os.execvp(prog[0], prog)
    kids.append(pid)
    c.close()
for k in kids:
    _, st = os.waitpid(k, 0)
    if st != 0:
        print("child exit status", st, file=sys.stderr); sys.exit(1)
PY
cat > "$WORK/client.py" <<'PY'
import hashlib, os, socket, sys
data = os.urandom(int(sys.argv[1]))
for _ in range(100):
    try:
        c = socket.create_connection(("10.0.0.2", 7000), timeout=30); break
    except OSError:
        import time; time.sleep(0.1)
c.sendall(data); c.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = c.recv(65536)
    if not b: break
    got += b
want = hashlib.sha256(data).hexdigest() + "  -\n"
print("ok" if got.decode() == want else "bad answer %r (want %r)" % (got, want))
PY
tx0=$(tap_bytes tx); rx0=$(tap_bytes rx)
ts 60 "$PY" "$WORK/inetd.py" sha256sum 2> "$WORK/inetd.err" &
ipid=$!
_NETNS_PIDS+=("$ipid")
for n in 1000 1048576 5; do
  out=$(in_ns timeout 30 "$PY" "$WORK/client.py" "$n") || true
  [ "$out" = ok ] || { echo "FAIL: inetd-style sha256sum, $n bytes: $out"; cat "$WORK/inetd.err"; exit 1; }
done
rc=0; wait $ipid || rc=$?
[ $rc = 0 ] || { echo "FAIL: the shimmed inetd exited $rc"; cat "$WORK/inetd.err"; exit 1; }
crossed tx 1049576 "$tx0" "requests to the exec'd programs"
crossed rx 195 "$rx0" "answers of the exec'd programs"
echo "ok: inetd style: accept, fork, dup2 onto 0/1, exec sha256sum: 3 kernel clients answered"

# The same with a shell that reads a line and answers (read(0) and write(1) by sh itself).
ts 60 "$PY" "$WORK/inetd.py" sh -c 'read -r line; echo "hello $line"; read -r x; echo "bye $x"' 2> "$WORK/inetd2.err" &
ipid=$!
_NETNS_PIDS+=("$ipid")
for i in 1 2 3; do
  out=""
  for _ in $(seq 1 50); do
    out=$(printf 'client%s\nnow\n' "$i" | in_ns timeout 10 nc -N 10.0.0.2 7000 2>/dev/null) && [ -n "$out" ] && break
    sleep 0.1
  done
  [ "$out" = "$(printf 'hello client%s\nbye now' "$i")" ] || { echo "FAIL: inetd-style sh: got '$out'"; cat "$WORK/inetd2.err"; exit 1; }
done
rc=0; wait $ipid || rc=$?
[ $rc = 0 ] || { echo "FAIL: the shimmed inetd (sh) exited $rc"; cat "$WORK/inetd2.err"; exit 1; }
echo "ok: inetd style with sh reading and answering on the inherited connection"

# AF_INET6 descriptors inherited across exec keep their family and IPV6_V6ONLY (both live in the
# service's socket; the exec'd program learns them from it): a dual-stack listener on :: and two
# UDP sockets (dual-stack, v6-only) handed to a new python through exec.
cat > "$WORK/parent6.py" <<'PY'
import socket, subprocess, sys
l = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("::", 7100)); l.listen(4)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind(("::", 7101))
v = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
v.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
fds = [l.fileno(), u.fileno(), v.fileno()]
sys.exit(subprocess.run([sys.executable, sys.argv[1]] + [str(f) for f in fds], pass_fds=fds).returncode)
PY
cat > "$WORK/child6.py" <<'PY'
import socket, sys
l, u, v = (socket.socket(fileno=int(f)) for f in sys.argv[1:4])
print("families", l.family.name, u.family.name, v.family.name, flush=True)
print("listener", l.getsockname(), l.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY), flush=True)
print("v6only", v.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY), flush=True)
try:
    v.sendto(b"x", ("::ffff:10.0.0.1", 9))
    print("v6only sendto mapped: sent", flush=True)
except OSError as e:
    print("v6only sendto mapped:", e.errno == 101 and "ENETUNREACH" or e, flush=True)
l.settimeout(20); u.settimeout(20)
c, a = l.accept()
print("accepted", a[0], a[2:], c.family.name, flush=True)
c.sendall(b"six\n"); c.close()
d, a = u.recvfrom(100)
print("udp", d.decode(), a[0], a[2:], flush=True)
u.sendto(b"pong", a)
PY
ts 60 "$PY" "$WORK/parent6.py" "$WORK/child6.py" > "$WORK/six.out" 2>&1 &
ipid=$!
_NETNS_PIDS+=("$ipid")
got=""
for _ in $(seq 1 100); do
  got=$(in_ns timeout 5 nc -N 10.0.0.2 7100 < /dev/null 2>/dev/null) && [ -n "$got" ] && break
  sleep 0.1
done
[ "$got" = six ] || { echo "FAIL: inherited AF_INET6 listener: got '$got'"; cat "$WORK/six.out"; exit 1; }
pong=$(in_ns "$PY" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(10)
s.sendto(b"ping", ("10.0.0.2", 7101)); print(s.recvfrom(10)[0].decode())') || true
rc=0; wait $ipid || rc=$?
expect=$(printf '%s\n' "families AF_INET6 AF_INET6 AF_INET6" "listener ('::', 7100, 0, 0) 0" "v6only 1" \
  "v6only sendto mapped: ENETUNREACH" "accepted ::ffff:10.0.0.1 (0, 0) AF_INET6" "udp ping ::ffff:10.0.0.1 (0, 0)")
[ "$rc" = 0 ] && [ "$pong" = pong ] && [ "$(cat "$WORK/six.out")" = "$expect" ] || {
  echo "FAIL: AF_INET6 sockets across exec (rc $rc, pong '$pong'):"; diff <(echo "$expect") "$WORK/six.out"; exit 1; }
echo "ok: AF_INET6 sockets inherited across exec keep their family and IPV6_V6ONLY (listener, UDP)"

# A socket this process made itself (socket() + connect()) and passed across exec: the new
# program recognises it as a TCP socket (family, peer address) and talks on it.
in_ns timeout 20 "$PY" -c '
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.0.0.1", 7001)); l.listen(1)
c, _ = l.accept(); d = c.recv(10); c.sendall(b"echo:" + d); c.close()' &
spid=$!
_NETNS_PIDS+=("$spid")
sleep 0.3
out=$(ts 30 "$PY" -c '
import os, socket, sys, time
for _ in range(50):
    s = socket.socket()
    try:
        s.connect(("10.0.0.1", 7001)); break
    except OSError:
        s.close(); time.sleep(0.1)
fd = s.fileno(); os.set_inheritable(fd, True)
os.execv(sys.executable, [sys.executable, "-c", """
import socket, sys
s = socket.socket(fileno=int(sys.argv[1]))
s.sendall(b"hi")
print(s.family == socket.AF_INET, s.getpeername(), s.recv(20))
""", str(fd)])' 2>&1) || true
wait $spid || true
[ "$out" = "True ('10.0.0.1', 7001) b'echo:hi'" ] || { echo "FAIL: own socket across exec: got '$out'"; exit 1; }
echo "ok: a socket made with socket() and connect() keeps working, as a TCP socket, after exec"
