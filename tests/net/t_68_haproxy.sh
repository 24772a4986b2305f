#!/usr/bin/env bash
# haproxy shimmed in front of two kernel HTTP servers: paths no other test drives.
# - HTTP mode with health checks (`option httpchk`, `nolinger`: each check ends with SO_LINGER 0)
#   and keep-alive: a 5 MB download byte-exact, ab -k 300 requests with 0 failures.
# - TCP mode with `splice-request`/`splice-response`: haproxy moves the bytes socket -> pipe ->
#   socket with splice(2) (the tapstack socket as splice's source and as its destination);
#   5 MB down and 5 MB up byte-exact, and strace shows the splices.
# - A seamless reload (`-x stats.sock -sf OLD`): the new haproxy, a separate process, receives
#   the listening sockets from the old one over SCM_RIGHTS and serves on them; the old exits.
# Kernel side: tap0 10.0.0.1/24 (servers on 9000, 9001); tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
for t in haproxy ab curl strace; do command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (make deps)"; exit 1; }; done
shim_setup t68
chmod 755 "$WORK"
mkdir -p "$WORK/www"; head -c 5000000 /dev/urandom > "$WORK/www/big"; head -c 20000 /dev/urandom > "$WORK/www/f"
want=$(sha "$WORK/www/big")
cat > "$WORK/srv.py" <<'PY'
import hashlib, http.server, sys
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        left = int(self.headers["Content-Length"]); h = hashlib.sha256()
        while left > 0:
            b = self.rfile.read(min(left, 65536))
            if not b:
                break
            h.update(b); left -= len(b)
        body = (h.hexdigest() + "\n").encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 128
S(("10.0.0.1", int(sys.argv[2])), lambda *a: H(*a, directory=sys.argv[1])).serve_forever()
PY
# (the servers log a reset for every health check: nolinger closes with SO_LINGER 0)
for p in 9000 9001; do netns_bg "$NS" "$PY" "$WORK/srv.py" "$WORK/www" "$p" 2> "$WORK/srv$p.log"; done
netns_wait_port "$NS" 9000; netns_wait_port "$NS" 9001
cat > "$WORK/h.cfg" <<CFG
global
    stats socket $WORK/stats.sock mode 600 level admin expose-fd listeners
    pidfile $WORK/h.pid
defaults
    mode http
    option nolinger
    option http-keep-alive
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 10.0.0.2:8080
    default_backend be
backend be
    balance roundrobin
    option httpchk GET /f
    server s1 10.0.0.1:9000 check inter 200ms
    server s2 10.0.0.1:9001 check inter 200ms
frontend tcpfe
    mode tcp
    bind 10.0.0.2:8081
    default_backend tcpbe
backend tcpbe
    mode tcp
    option splice-request
    option splice-response
    server s1 10.0.0.1:9000
CFG
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
ts 60 strace -f -qq -e trace=splice -o "$WORK/strace" haproxy -db -f "$WORK/h.cfg" > "$WORK/h.out" 2>&1 &
hpid=$!
_NETNS_PIDS+=("$hpid")
up=0
for _ in $(seq 1 100); do
  in_ns curl -s --max-time 2 -o /dev/null http://10.0.0.2:8080/f 2>/dev/null && { up=1; break; }
  sleep 0.1
done
[ $up = 1 ] || { echo "FAIL: haproxy under tapstack does not answer"; cat "$WORK/h.out"; exit 1; }
in_ns ss -Hltn 'sport = :8080' | grep -q . && { echo "FAIL: a kernel socket listens on :8080 (haproxy is not on tapstack)"; exit 1; }

in_ns curl -sS --fail --max-time 30 -o "$WORK/d1" http://10.0.0.2:8080/big
[ "$(sha "$WORK/d1")" = "$want" ] || { echo "FAIL: HTTP mode: the 5 MB download differs"; exit 1; }
in_ns timeout 30 ab -q -k -n 300 -c 5 http://10.0.0.2:8080/f > "$WORK/ab.out" 2>&1 || { echo "FAIL: ab exited $?"; tail "$WORK/ab.out"; exit 1; }
grep -Eq '^Complete requests: +300$' "$WORK/ab.out" && grep -Eq '^Failed requests: +0$' "$WORK/ab.out" \
  || { echo "FAIL: ab through haproxy:"; grep -E 'requests|Non-2xx' "$WORK/ab.out"; exit 1; }
grep -q '^Non-2xx' "$WORK/ab.out" && { echo "FAIL: non-2xx responses through haproxy"; exit 1; }
echo "ok: HTTP mode with health checks (nolinger): 5 MB byte-exact, ab -k 300 requests, 0 failed"

in_ns curl -sS --fail --max-time 30 -o "$WORK/d2" http://10.0.0.2:8081/big
[ "$(sha "$WORK/d2")" = "$want" ] || { echo "FAIL: TCP splice mode: the 5 MB download differs"; exit 1; }
got=$(in_ns curl -sS --fail --max-time 30 -H 'Expect:' --data-binary @"$WORK/www/big" http://10.0.0.2:8081/up)
[ "$got" = "$want" ] || { echo "FAIL: TCP splice mode: the server saw sha256 '$got' for the 5 MB upload"; exit 1; }
crossed rx $((3 * 5000000)) "$rx0" "haproxy to the kernel's clients and servers"
crossed tx $((3 * 5000000)) "$tx0" "the kernel's clients and servers to haproxy"
n=$(grep -Ec 'splice\(.*\) = [1-9]' "$WORK/strace" || true)
[ "$n" -ge 20 ] || { echo "FAIL: TCP splice mode: only $n splice(2) calls moved bytes (haproxy fell back to recv/send?)"; exit 1; }
echo "ok: TCP mode with splice: 5 MB down and 5 MB up byte-exact, $n splice(2) calls moved bytes"
kill "$hpid"; wait "$hpid" 2>/dev/null || true

# Seamless reload: daemons now (-D), the new one takes the old one's listeners over SCM_RIGHTS.
ts 30 haproxy -D -f "$WORK/h.cfg" > "$WORK/h1.out" 2>&1 || { echo "FAIL: haproxy -D exited $?"; cat "$WORK/h1.out"; exit 1; }
old=""
for _ in $(seq 1 50); do old=$(cat "$WORK/h.pid" 2>/dev/null || true); [ -n "$old" ] && break; sleep 0.1; done
up=0
for _ in $(seq 1 100); do
  in_ns curl -s --max-time 2 -o /dev/null http://10.0.0.2:8080/f 2>/dev/null && { up=1; break; }
  sleep 0.1
done
[ $up = 1 ] || { echo "FAIL: haproxy -D under tapstack does not answer"; cat "$WORK/h1.out"; exit 1; }
ts 30 haproxy -D -f "$WORK/h.cfg" -x "$WORK/stats.sock" -sf "$old" > "$WORK/h2.out" 2>&1 \
  || { echo "FAIL: the reload exited $?"; cat "$WORK/h2.out"; exit 1; }
new=$(cat "$WORK/h.pid")
[ "$new" != "$old" ] || { echo "FAIL: the pid file still names the old haproxy"; exit 1; }
for _ in $(seq 1 100); do alive "$old" || break; sleep 0.1; done
alive "$old" && { echo "FAIL: the old haproxy ($old) did not exit after the reload"; exit 1; }
grep -q libtapstack_preload "/proc/$new/maps" || { echo "FAIL: the new haproxy runs without the shim"; exit 1; }
grep -qiE 'alert|fail' "$WORK/h2.out" && { echo "FAIL: the reload complained:"; cat "$WORK/h2.out"; exit 1; }
for p in 8080 8081; do
  in_ns curl -sS --fail --max-time 30 -o "$WORK/d3" "http://10.0.0.2:$p/big"
  [ "$(sha "$WORK/d3")" = "$want" ] || { echo "FAIL: after the reload, port $p: the download differs"; exit 1; }
done
kill "$new"
echo "ok: seamless reload (-x, listeners over SCM_RIGHTS): old $old exited, new $new serves both ports"
