#!/usr/bin/env bash
# shim process lifecycle: one TAP syscall per frame, exec, fork, blanket close, signals.
# Kernel side: TAP tap0 10.0.0.1/24 inside a private namespace. tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t57

# 1. One TAP syscall per frame, no duplicate transmissions: strace a shimmed curl and count
#    write()s on /dev/net/tun against the frames the kernel received on tap0.
head -c 2M /dev/urandom > "$WORK/f"
netns_bg "$NS" "$PY" -m http.server --bind 10.0.0.1 --directory "$WORK" 8000
netns_wait_port "$NS" 8000
rx_before=$(in_ns cat /sys/class/net/tap0/statistics/rx_packets)
ts 60 strace -f -qq -y -e trace=write,writev -o "$WORK/strace" curl -sS --max-time 30 -o "$WORK/got" http://10.0.0.1:8000/f
rx_after=$(in_ns cat /sys/class/net/tap0/statistics/rx_packets)
[ "$(sha "$WORK/got")" = "$(sha "$WORK/f")" ] || { echo "FAIL: download under strace differs"; exit 1; }
frames=$((rx_after - rx_before))
tunw=$(grep -c '</dev/net/tun>' "$WORK/strace" || true)
[ "$frames" -gt 0 ] && [ "$tunw" -eq "$frames" ] || {
  echo "FAIL: $tunw TAP writes for $frames frames received by the kernel"; exit 1; }
echo "ok: $tunw TAP writes for $frames frames (one syscall per frame, nothing re-entered)"

# 2. exec after the stack started: no TAP or eventfd descriptor leaks into the new program.
out=$(ts 30 "$PY" -c '
import os, socket
s = socket.socket(); s.connect(("10.0.0.1", 8000))
os.execv("/bin/sh", ["sh", "-c", "ls -l /proc/self/fd/"])')
if grep -Eq 'tun|eventfd' <<<"$out"; then echo "FAIL: descriptors leaked across exec:"; echo "$out"; exit 1; fi
echo "ok: exec leaves no TAP or socket descriptor behind"

# 3. fork after the stack started: the child cannot use inherited sockets (EBADF) nor make new
#    ones (ENETDOWN); the parent's connection is unaffected.
netns_bg "$NS" sh -c "exec nc -l 10.0.0.1 7001 > '$WORK/forked'"
lpid=$NETNS_LAST_PID
netns_wait_port "$NS" 7001
out=$(ts 30 "$PY" -c '
import errno, os, socket
c = socket.create_connection(("10.0.0.1", 7001), timeout=10)
c.sendall(b"before;")
pid = os.fork()
if pid == 0:
    r = []
    try:
        c.sendall(b"child;"); r.append("send-ok")
    except OSError as e:
        r.append(errno.errorcode[e.errno])
    try:
        socket.socket(); r.append("socket-ok")
    except OSError as e:
        r.append(errno.errorcode[e.errno])
    c.close()
    print("child", *r, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
c.sendall(b"after")
c.close()' 2>/dev/null)
for _ in $(seq 1 50); do kill -0 "$lpid" 2>/dev/null || break; sleep 0.1; done
# The child uses the inherited connection and makes new sockets.
[ "$out" = "child send-ok socket-ok" ] || { echo "FAIL: forked child: $out"; exit 1; }
[ "$(cat "$WORK/forked")" = "before;child;after" ] || {
  echo "FAIL: stream after fork: $(cat "$WORK/forked")"; exit 1; }
echo "ok: fork: parent and child both use the inherited connection; the child makes sockets"

# 4. A blanket close (os.closerange) does not take the stack down.
tx0=$(tap_bytes tx)
out=$(ts 30 "$PY" -c '
import os, socket, urllib.request
socket.socket().close()                 # the stack is running now
os.closerange(3, 1024)
print(len(urllib.request.urlopen("http://10.0.0.1:8000/f", timeout=20).read()))')
[ "$out" = "2097152" ] || { echo "FAIL: after closerange: $out"; exit 1; }
crossed tx 2097152 "$tx0" "download after closerange"
echo "ok: closerange(3, 1024) spares the stack's own descriptors"

# 5. A signal handler interrupts a blocked socket call (signal(7)): Ctrl-C (SIGINT) stops a
#    Python program blocked in recv() on a tapstack socket at once.
netns_bg "$NS" "$PY" -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.0.1", 7003)); s.listen(1); c, _ = s.accept(); time.sleep(30)'
netns_wait_port "$NS" 7003
# The time is taken from the signal itself (a busy machine may start the timer thread late):
# recv blocked until the signal (>= 0.4 s) and ended within 1 s of it.
out=$(ts 20 "$PY" -c '
import os, signal, socket, threading, time
c = socket.create_connection(("10.0.0.1", 7003))
sent = []
def interrupt():
    sent.append(time.time()); os.kill(os.getpid(), signal.SIGINT)
threading.Timer(0.5, interrupt).start()
t = time.time()
try:
    c.recv(10)
    print("recv returned")
except KeyboardInterrupt:
    now = time.time()
    print("interrupted after %.1f s, %.1f s after the signal" % (now - t, now - sent[0]))')
grep -Eq '^interrupted after (0\.[4-9]|[1-9][0-9]*\.[0-9]) s, (0\.[0-9]|1\.0) s after the signal$' <<<"$out" \
  || { echo "FAIL: SIGINT during a blocking recv: $out"; exit 1; }
echo "ok: SIGINT interrupts a blocking recv() ($out)"
