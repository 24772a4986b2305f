#!/usr/bin/env bash
# Failure of either side of the shared stack service (issue 10):
#  1. After the last shimmed process exits (its connection closed by the peer: no TIME-WAIT on
#     our side) the service exits within its grace period (SVC_GRACE_WAIT s, default 15).
#  2. SIGKILL of a shimmed client mid-transfer: the kernel peer sees the connection end (reset
#     when data was unread, end of stream when not) and the service frees the sockets (its
#     descriptor count returns to what it was).
#  3. Killing the service: an attached program's next call fails (ECONNRESET or ENETDOWN)
#     within 1 s; its next socket() starts a fresh service; after it exits, that one exits too.
#  4. A program that closed first leaves its connection in TIME-WAIT: the service outlives its
#     grace period while TIME-WAIT lasts (`tapstack ss` shows it), as the issue asks ("no
#     connection remains ... TIME-WAIT over"); the test ends it by PID rather than wait 2 MSL.
# No tapstack process is left behind. Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t91

cat > "$WORK/k.py" <<'PY'
# Kernel-side server. First byte: d = send until error, u = read until end, e = echo until 'q'
# (then the server closes first). Each connection's end goes to the log with its kind.
import socket, sys, threading, time
log = open(sys.argv[1], "a", buffering=1)
def handle(c, n):
    mode = c.recv(1).decode()
    try:
        if mode == "d":
            blob = b"x" * 65536
            sent = 0
            while sent < (512 << 20):
                sent += c.send(blob)
            log.write("%d d finished\n" % n)
        elif mode == "u":
            while c.recv(65536):
                pass
            log.write("%d u EOF\n" % n)
        elif mode == "e":
            while True:
                b = c.recv(1)
                if not b or b == b"q":
                    c.close(); log.write("%d e closed\n" % n); return
                c.sendall(b)
    except OSError as e:
        log.write("%d %s %s\n" % (n, mode, type(e).__name__))
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.0.1", 7500)); s.listen(16)
n = 0
while True:
    c, _ = s.accept(); n += 1
    threading.Thread(target=handle, args=(c, n), daemon=True).start()
PY
: > "$WORK/k.log"
netns_bg "$NS" "$PY" "$WORK/k.py" "$WORK/k.log"
netns_wait_port "$NS" 7500
head -c 1M /dev/urandom > "$WORK/file"
netns_bg "$NS" "$PY" -m http.server --bind 10.0.0.1 --directory "$WORK" 8000
netns_wait_port "$NS" 8000

# waitfile FILE: a shimmed script waits (bounded) for FILE to exist.
cat > "$WORK/lib.py" <<'PY'
import os, time
def waitfile(p, secs=60):
    for _ in range(secs * 20):
        if os.path.exists(p): return
        time.sleep(0.05)
    raise SystemExit("timed out waiting for " + p)
PY

# ---- 1. idle exit after the last process ----
# The program reads the reply to its end of stream (the server's FIN) before it closes, so the
# server closes first and our side has no TIME-WAIT. (urllib closes as soon as it has
# Content-Length bytes: when the server's FIN came after that, our side closed first and the
# service rightly stayed for TIME-WAIT, 60 s; the test failed once in CI that way.)
ts 60 "$PY" -c '
import socket, sys; sys.path.insert(0, sys.argv[1]); from lib import waitfile
c = socket.create_connection(("10.0.0.1", 8000), timeout=20)
c.sendall(b"GET /file HTTP/1.0\r\nHost: 10.0.0.1\r\n\r\n")
reply = b""
while True:
    b = c.recv(65536)
    if not b: break
    reply += b
c.close()
head, _, body = reply.partition(b"\r\n\r\n")
assert head.startswith(b"HTTP/1.0 200"), head[:80]
print("done", len(body), flush=True)
waitfile(sys.argv[1] + "/exit1")' "$WORK" > "$WORK/p1.out" 2> "$WORK/p1.err" &
p1=$!
_NETNS_PIDS+=("$p1")
netns_wait_grep "$WORK/p1.out" '^done 1048576' 30 || { echo "FAIL: download"; cat "$WORK/p1.err"; exit 1; }
svc=$(svc_pid)
[ -n "$svc" ] || { echo "FAIL: no service process for tap0 while a shimmed program is attached"; ts_procs; exit 1; }
echo "   service pid $svc ($(tr '\0' ' ' < "/proc/$svc/cmdline"))"
touch "$WORK/exit1"
wait "$p1" || { echo "FAIL: the shimmed program failed"; cat "$WORK/p1.err"; exit 1; }
t0=$(date +%s%N)
no_leftovers "$SVC_GRACE_WAIT" "after the last program exited"
alive "$svc" && { echo "FAIL: service $svc still alive"; exit 1; }
echo "ok: the service exited $(( ($(date +%s%N) - t0) / 1000000 )) ms after the last program"

# ---- 2. SIGKILL of shimmed clients mid-transfer ----
# An anchor keeps the service attached (a listener: no connection, nothing to linger).
ts 120 "$PY" -c '
import socket, sys; sys.path.insert(0, sys.argv[1]); from lib import waitfile
s = socket.socket(); s.bind(("10.0.0.2", 7600)); s.listen(1)
print("anchored", flush=True)
waitfile(sys.argv[1] + "/exit2", 100)' "$WORK" > "$WORK/a.out" 2> "$WORK/a.err" &
apid=$!
_NETNS_PIDS+=("$apid")
netns_wait_grep "$WORK/a.out" '^anchored' 20 || { echo "FAIL: anchor"; cat "$WORK/a.err"; exit 1; }
svc=$(svc_pid)
[ -n "$svc" ] || { echo "FAIL: no service with the anchor attached"; exit 1; }
fd0=$(svc_fds "$svc")
echo "   service $svc holds $fd0 descriptors with the anchor attached"
# kill9 MODE: a shimmed client in MODE (d: reads slowly while the kernel sends; u: sends), killed
# with SIGKILL once 1 MiB has moved; the kernel side's log must show WANT within 5 s.
kill9() {
  local mode=$1 want=$2 cpid line t0 ms n0
  n0=$(wc -l < "$WORK/k.log")
  ts 60 "$PY" -c '
import os, socket, sys, time
mode = sys.argv[1]
c = socket.create_connection(("10.0.0.1", 7500), timeout=20); c.sendall(mode.encode())
moved, started = 0, False
while True:
    if mode == "d":
        moved += len(c.recv(65536)); time.sleep(0.005 if started else 0)
    else:
        moved += c.send(b"y" * 65536)
    if not started and moved >= (1 << 20):
        started = True; print("started", os.getpid(), flush=True)' "$mode" > "$WORK/c-$mode.out" 2> "$WORK/c-$mode.err" &
  local job=$!
  _NETNS_PIDS+=("$job")
  netns_wait_grep "$WORK/c-$mode.out" '^started' 30 || { echo "FAIL: client $mode did not start"; cat "$WORK/c-$mode.err"; exit 1; }
  cpid=$(awk '/^started/ {print $2}' "$WORK/c-$mode.out")
  sleep 0.3
  kill -9 "$cpid"
  t0=$(date +%s%N)
  wait "$job" 2>/dev/null || true
  for _ in $(seq 1 100); do [ "$(wc -l < "$WORK/k.log")" -gt "$n0" ] && break; sleep 0.05; done
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  line=$(tail -n +$((n0 + 1)) "$WORK/k.log" | head -n 1)
  [ -n "$line" ] || { echo "FAIL: SIGKILL of a shimmed client ($mode): the kernel peer saw no end within 5 s"; exit 1; }
  grep -Eq " $mode ($want)\$" <<<"$line" || { echo "FAIL: SIGKILL of a shimmed client ($mode): kernel peer: '$line', expected $want"; exit 1; }
  echo "ok: SIGKILL of a shimmed client ($mode): the kernel peer saw '${line#* }' after ${ms} ms"
}
kill9 d 'ConnectionResetError|BrokenPipeError'
kill9 u 'EOF'
[ "$(svc_pid)" = "$svc" ] || { echo "FAIL: the service changed ($svc -> $(svc_pid)) when a client was killed"; exit 1; }
for _ in $(seq 1 50); do [ "$(svc_fds "$svc")" = "$fd0" ] && break; sleep 0.1; done
[ "$(svc_fds "$svc")" = "$fd0" ] || { echo "FAIL: the service holds $(svc_fds "$svc") descriptors, $fd0 before the killed clients"; ls -l "/proc/$svc/fd"; exit 1; }
echo "ok: the service freed the killed clients' sockets (back to $fd0 descriptors)"
touch "$WORK/exit2"
wait "$apid" || true

# ---- 3. killing the service ----
ts 60 "$PY" -c '
import errno, socket, sys, time; sys.path.insert(0, sys.argv[1]); from lib import waitfile
c = socket.create_connection(("10.0.0.1", 7500), timeout=20); c.sendall(b"e")
c.sendall(b"a"); assert c.recv(1) == b"a"
c.settimeout(5)
print("ready", flush=True)
waitfile(sys.argv[1] + "/killed")
t = time.time()
try:
    c.sendall(b"b"); r = c.recv(1); res = "no error (%r)" % r
except socket.timeout:
    res = "timeout"
except OSError as e:
    res = errno.errorcode.get(e.errno, str(e.errno))
print("after the kill: %s %.2f" % (res, time.time() - t), flush=True)
c2 = socket.create_connection(("10.0.0.1", 7500), timeout=10); c2.sendall(b"ez")
assert c2.recv(1) == b"z"
print("fresh ok", flush=True)
waitfile(sys.argv[1] + "/exit3")
c2.sendall(b"q"); assert c2.recv(1) == b""  # the kernel side closes first
c2.close()' "$WORK" > "$WORK/b.out" 2> "$WORK/b.err" &
bpid=$!
_NETNS_PIDS+=("$bpid")
netns_wait_grep "$WORK/b.out" '^ready' 20 || { echo "FAIL: program for the service kill"; cat "$WORK/b.err"; exit 1; }
svc=$(svc_pid)
[ -n "$svc" ] || { echo "FAIL: no service"; exit 1; }
kill -9 "$svc"
touch "$WORK/killed"
netns_wait_grep "$WORK/b.out" '^fresh ok' 20 || { echo "FAIL: after the service was killed:"; cat "$WORK/b.out" "$WORK/b.err"; exit 1; }
res=$(grep '^after the kill' "$WORK/b.out")
echo "   $res"
grep -Eq '^after the kill: (ECONNRESET|ENETDOWN) (0\.[0-9]+|1\.00)$' <<<"$res" \
  || { echo "FAIL: the next call after the service died: '$res' (want ECONNRESET or ENETDOWN within 1 s)"; exit 1; }
svc2=$(svc_pid)
[ -n "$svc2" ] && [ "$svc2" != "$svc" ] || { echo "FAIL: no fresh service after the kill (old $svc, now '$svc2')"; exit 1; }
echo "ok: killing the service: the next call failed at once, the next socket() started service $svc2"
touch "$WORK/exit3"
wait "$bpid" || { echo "FAIL: the program failed after the fresh service"; cat "$WORK/b.err"; exit 1; }
no_leftovers "$SVC_GRACE_WAIT" "after the last program exited (fresh service)"
echo "ok: no tapstack process left"

# ---- 4. TIME-WAIT keeps the service ----
out=$(ts 30 "$PY" -c '
import socket
c = socket.create_connection(("10.0.0.1", 7500), timeout=10)
c.sendall(b"ea"); assert c.recv(1) == b"a"
c.close()                       # we close first: our side enters TIME-WAIT
print("closed", flush=True)')
[ "$out" = closed ] || { echo "FAIL: echo client: $out"; exit 1; }
svc4=$(svc_pid)
[ -n "$svc4" ] || { echo "FAIL: the service exited at once with a connection in TIME-WAIT"; exit 1; }
sleep $(( ${TAPSTACK_IDLE_MS:-2000} / 1000 + 2 ))
alive "$svc4" || { echo "FAIL: the service exited within its grace period with a connection in TIME-WAIT"; exit 1; }
ts 10 ss -tan > "$WORK/tw.txt" 2>&1 || true
grep -q "TIME-WAIT" "$WORK/tw.txt" || { echo "FAIL: ss does not show the TIME-WAIT connection:"; cat "$WORK/tw.txt"; exit 1; }
echo "ok: the service stays past its grace period while a connection is in TIME-WAIT (ss shows it)"
kill "$svc4"
no_leftovers 5 "after ending the service"
