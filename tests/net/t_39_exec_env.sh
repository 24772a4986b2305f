#!/usr/bin/env bash
# A program that rebuilds its child's environment keeps the child on tapstack (preload/src/keepenv.rs):
# without it the child would start without LD_PRELOAD, on the kernel's stack, and a tapstack
# socket it inherits would be a bare socketpair end.
#  1. `env -i FOO=bar TAPSTACK_DNS=10.0.0.9 python3` run by a shimmed shell: the child has
#     LD_PRELOAD with the library, TAPSTACK_TAP from the shell, its own FOO and its own
#     TAPSTACK_DNS (not the shell's), and its connection to the kernel side crosses the TAP
#     (without the shim it would reach 10.0.0.1 over the kernel's loopback). Given LD_PRELOAD
#     alone (as lighttpd builds a CGI's environment), the child gets TAPSTACK_TAP too.
#  2. A Python parent hands its tapstack listener to a subprocess started with env={} and
#     pass_fds: the child accepts on it and echoes to a kernel-side client.
#  3. nginx's binary upgrade (USR2: the master execs its binary with only TZ and NGINX=fds in the
#     environment; WINCH and QUIT to the old one): the new master is shimmed, serves
#     `ab -n 1000` on the inherited listener with 0 failures, and the old master is gone.
# Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
need_cmd nginx nginx
need_cmd ab apache2-utils
shim_setup t39
chmod 755 "$WORK"

# 1. env -i
netns_bg "$NS" sh -c "exec nc -lk 10.0.0.1 7310 > '$WORK/got'"
netns_wait_port "$NS" 7310
cat > "$WORK/child.py" <<'PY'
import os, socket
e = os.environ
print("preload", "libtapstack_preload.so" in e.get("LD_PRELOAD", ""))
print("tap", e.get("TAPSTACK_TAP"), "foo", e.get("FOO"), "dns", e.get("TAPSTACK_DNS"))
s = socket.create_connection(("10.0.0.1", 7310))
s.sendall(b"from the env -i child\n")
s.close()
PY
rx0=$(tap_bytes rx)
out=$(ts 30 env TAPSTACK_DNS=10.0.0.1 sh -c "exec env -i FOO=bar TAPSTACK_DNS=10.0.0.9 $PY '$WORK/child.py'" 2>&1) \
  || { echo "FAIL: env -i child: $out"; exit 1; }
want=$'preload True\ntap tap0 foo bar dns 10.0.0.9'
[ "$out" = "$want" ] || { echo "FAIL: env -i child's environment:"; echo "$out"; exit 1; }
crossed rx 22 "$rx0" "env -i child's connection"
for _ in $(seq 1 30); do grep -q "env -i child" "$WORK/got" && break; sleep 0.1; done
grep -q "env -i child" "$WORK/got" || { echo "FAIL: the env -i child's data did not arrive"; exit 1; }
echo "ok: env -i child kept tapstack (LD_PRELOAD, TAPSTACK_TAP; its own FOO and TAPSTACK_DNS)"
# LD_PRELOAD passed on by the program itself but no TAPSTACK_* (lighttpd's CGI environment).
out=$(ts 30 sh -c "exec env -i LD_PRELOAD=\"\$LD_PRELOAD\" FOO=cgi $PY '$WORK/child.py'" 2>&1) \
  || { echo "FAIL: env -i LD_PRELOAD child: $out"; exit 1; }
want=$'preload True\ntap tap0 foo cgi dns None'
[ "$out" = "$want" ] || { echo "FAIL: env -i LD_PRELOAD child's environment:"; echo "$out"; exit 1; }
echo "ok: a child given LD_PRELOAD alone gets TAPSTACK_TAP too"

# 2. a listener handed to a subprocess with env={}
cat > "$WORK/parent.py" <<'PY'
import socket, subprocess, sys
ls = socket.socket()
ls.bind(("10.0.0.2", 7311))
ls.listen(4)
child = "import socket,sys; ls=socket.socket(fileno=int(sys.argv[1])); c,_=ls.accept(); c.sendall(c.recv(100).upper()); c.close()"
p = subprocess.Popen([sys.executable, "-c", child, str(ls.fileno())], env={}, pass_fds=[ls.fileno()])
ls.close()
print("child exit", p.wait(timeout=20))
PY
rx0=$(tap_bytes rx)
ts 40 "$PY" "$WORK/parent.py" > "$WORK/parent.out" 2>&1 &
ppid=$!
got=""
for _ in $(seq 1 50); do
  got=$(in_ns "$PY" -c "
import socket
s = socket.create_connection(('10.0.0.2', 7311), timeout=5)
s.sendall(b'handed over')
print(s.recv(100).decode())" 2>/dev/null) && break
  sleep 0.1
done
wait "$ppid" || { echo "FAIL: the parent: $(cat "$WORK/parent.out")"; exit 1; }
[ "$got" = "HANDED OVER" ] || { echo "FAIL: the env={} child's echo: '$got'; parent: $(cat "$WORK/parent.out")"; exit 1; }
grep -q "child exit 0" "$WORK/parent.out" || { echo "FAIL: the child: $(cat "$WORK/parent.out")"; exit 1; }
crossed rx 11 "$rx0" "env={} child's echo"
echo "ok: a listener handed to an env={} subprocess is served by it"

# 3. nginx's binary upgrade
mkdir -p "$WORK/www" "$WORK/tmp"
head -c 20000 /dev/urandom > "$WORK/www/f"
chmod -R a+rX "$WORK/www"
cat > "$WORK/nginx.conf" <<CONF
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/error.log notice;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    server { listen 10.0.0.2:8080; root $WORK/www; }
}
CONF
nginx_bin=$(command -v nginx)
ts 60 "$nginx_bin" -c "$WORK/nginx.conf" -e "$WORK/error.log" || { echo "FAIL: nginx did not start: $(cat "$WORK/error.log")"; exit 1; }
for _ in $(seq 1 50); do [ -s "$WORK/nginx.pid" ] && break; sleep 0.1; done
old=$(cat "$WORK/nginx.pid")
kill -USR2 "$old"
for _ in $(seq 1 50); do [ -s "$WORK/nginx.pid.oldbin" ] && [ -s "$WORK/nginx.pid" ] && break; sleep 0.1; done
new=$(cat "$WORK/nginx.pid")
[ "$new" != "$old" ] || { echo "FAIL: no new master after USR2: $(tail -3 "$WORK/error.log")"; exit 1; }
shimmed_as "$new" root "the upgraded nginx master"
grep -q 'using inherited sockets' "$WORK/error.log" || { echo "FAIL: the new master did not inherit the listener"; exit 1; }
kill -WINCH "$old"; sleep 1
kill -QUIT "$old"
for _ in $(seq 1 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$old" 2>/dev/null || { echo "FAIL: the old master is still running"; exit 1; }
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
in_ns ab -q -n 1000 -c 10 http://10.0.0.2:8080/f > "$WORK/ab" 2>&1 || { echo "FAIL: ab: $(tail -5 "$WORK/ab")"; exit 1; }
grep -q '^Complete requests: *1000$' "$WORK/ab" && grep -q '^Failed requests: *0$' "$WORK/ab" \
  || { echo "FAIL: ab after the upgrade:"; grep -E 'Complete|Failed|Non-2xx' "$WORK/ab"; exit 1; }
crossed rx 20000000 "$rx0" "ab's responses after the upgrade"
crossed tx 50000 "$tx0" "ab's requests"
kill -QUIT "$new"
echo "ok: nginx's binary upgrade: master $old -> $new, shimmed, 1000 requests on the inherited listener"
echo "PASS"
