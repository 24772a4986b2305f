#!/usr/bin/env bash
# Ctrl-C ends a shimmed python3 blocked in accept() within 1 s (issue 10, signals): SIGINT sent
# from outside (as a terminal does) to a python3 whose main thread blocks in accept() on a
# tapstack listener, (a) with Python's own handler (KeyboardInterrupt), (b) with SIGINT's default
# action (the process dies of the signal). Also (c) blocked in recv() on a connection. (d) The
# service the program started is in the program's session but not its process group: ^C to the
# program's group leaves the service. (e) Nor does its terminal stop it: two programs connect in
# a `stty tostop` terminal while the service writes its frame trace there.
# Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t90
netns_bg "$NS" "$PY" -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.0.1", 7400)); s.listen(4)
cs = [s.accept()[0] for _ in range(1)]
time.sleep(60)'
netns_wait_port "$NS" 7400

# run_case NAME PYTHON-CODE EXPECT-RC: the code prints "blocked <pid>" just before blocking.
run_case() {
  local name=$1 code=$2 want=$3 pid t0 t1 rc ms
  : > "$WORK/$name.out"
  ts 30 "$PY" -c "$code" > "$WORK/$name.out" 2> "$WORK/$name.err" &
  local job=$!
  _NETNS_PIDS+=("$job")
  netns_wait_grep "$WORK/$name.out" '^blocked [0-9]+' 15 || { echo "FAIL: $name: did not start"; cat "$WORK/$name.err"; exit 1; }
  pid=$(awk '/^blocked/ {print $2}' "$WORK/$name.out")
  sleep 0.5   # well inside the blocking call
  t0=$(date +%s%N)
  kill -INT "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    [ $(( $(date +%s%N) - t0 )) -gt 3000000000 ] && break
    sleep 0.02
  done
  t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000000 ))
  rc=0; wait "$job" || rc=$?
  [ "$ms" -le 1000 ] || { echo "FAIL: $name: still running ${ms} ms after SIGINT"; exit 1; }
  [ "$rc" = "$want" ] || { echo "FAIL: $name: exit status $rc, expected $want"; cat "$WORK/$name.err"; exit 1; }
  echo "ok: $name: ended ${ms} ms after SIGINT (exit $rc)"
}
# Python exits 130 (128 + SIGINT) after an unhandled KeyboardInterrupt, like the default action.
run_case accept-keyboardinterrupt '
import os, socket
s = socket.socket(); s.bind(("10.0.0.2", 7401)); s.listen(1)
print("blocked", os.getpid(), flush=True)
s.accept()' 130
grep -q KeyboardInterrupt "$WORK/accept-keyboardinterrupt.err" || { echo "FAIL: no KeyboardInterrupt"; exit 1; }
run_case accept-default-action '
import os, signal, socket
signal.signal(signal.SIGINT, signal.SIG_DFL)
s = socket.socket(); s.bind(("10.0.0.2", 7402)); s.listen(1)
print("blocked", os.getpid(), flush=True)
s.accept()' 130
rx0=$(tap_bytes rx)
run_case recv-keyboardinterrupt '
import os, socket
c = socket.create_connection(("10.0.0.1", 7400), timeout=10); c.settimeout(None)
print("blocked", os.getpid(), flush=True)
c.recv(10)' 130
crossed rx 40 "$rx0" "the blocked recv's connection"

# (d) The service a program starts stays out of the terminal's way and in its scheduling group:
# a process group of its own (its starter's first fork made it; the service, forked once more,
# is in it), in the starting program's session (bench/PERF.md, tenth session:
# in a session of its own, with autogroup scheduling, its polling sched_yield could not hand the
# CPU to the peer it waited for). The program runs as a shell job would, in a new session and
# group; ^C to that group ends the program and leaves the service.
service_done 15 "before the process-group case"
: > "$WORK/grp.out"
ts 30 setsid "$PY" -c '
import os, socket
c = socket.create_connection(("10.0.0.1", 7400), timeout=10); c.settimeout(None)
print("blocked", os.getpid(), os.getpgid(0), os.getsid(0), flush=True)
c.recv(10)' > "$WORK/grp.out" 2> "$WORK/grp.err" &
job=$!
_NETNS_PIDS+=("$job")
netns_wait_grep "$WORK/grp.out" '^blocked [0-9]+' 15 || { echo "FAIL: grp: did not start"; cat "$WORK/grp.err"; exit 1; }
read -r _ ppid ppgid psid < "$WORK/grp.out"
svc=$(svc_pid)
[ -n "$svc" ] || { echo "FAIL: grp: no service"; exit 1; }
# /proc/PID/stat: the fields after the command name's closing parenthesis: state ppid pgrp session.
read -r _ _ spgid ssid _ < <(sed 's/^.*) //' "/proc/$svc/stat")
[ "$spgid" != "$ppgid" ] || { echo "FAIL: the service ($svc) shares the program's process group $ppgid"; exit 1; }
[ "$ssid" = "$psid" ] || { echo "FAIL: the service is in session $ssid, the program that started it in $psid"; exit 1; }
if [ -r "/proc/$svc/autogroup" ]; then
  a=$(cut -d' ' -f1 "/proc/$svc/autogroup"); b=$(cut -d' ' -f1 "/proc/$ppid/autogroup")
  [ "$a" = "$b" ] || { echo "FAIL: the service's scheduling group $a is not the program's $b"; exit 1; }
fi
echo "ok: the service $svc: process group $spgid (the program's: $ppgid), the program's session $psid"
kill -INT -- "-$ppgid"
rc=0; wait "$job" || rc=$?
[ "$rc" = 130 ] || { echo "FAIL: grp: exit status $rc after ^C to its group, expected 130"; cat "$WORK/grp.err"; exit 1; }
alive "$svc" || { echo "FAIL: ^C to the program's group ended the service too"; exit 1; }
echo "ok: ^C to the program's group ended it (exit 130), the service $svc lives on"

# (e) ... and its terminal cannot stop it: in a terminal with `stty tostop`, a service writing
# its frame trace (TAPSTACK_TRACE=1) to the program's terminal from a background group would get
# SIGTTOU (stopped: the next program cannot connect) without the service ignoring it.
command -v script >/dev/null || { echo "FAIL: script (util-linux) is not installed"; exit 1; }
service_done 15 "before the terminal case"
netns_bg "$NS" "$PY" -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.0.1", 7403)); s.listen(16)
time.sleep(60)'
netns_wait_port "$NS" 7403
cat > "$WORK/conn.py" <<'PY'
import socket, sys
socket.create_connection(("10.0.0.1", 7403), timeout=3).close()
print("connected", sys.argv[1])
PY
run="ip netns exec $NS env TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_GW=10.0.0.1 TAPSTACK_LIB=$LIB"
run+=" TAPSTACK_TRACE=1 timeout -k 2 8 $ROOT/scripts/tapstack $PY $WORK/conn.py"
rc=0
timeout -k 5 40 script -eqc "stty tostop; $run 1 > $WORK/tty1.out; sleep 0.3; $run 2 > $WORK/tty2.out" "$WORK/typescript" > /dev/null || rc=$?
for i in 1 2; do
  grep -qx "connected $i" "$WORK/tty$i.out" || { echo "FAIL: program $i in a tostop terminal did not connect"; tail -5 "$WORK/typescript"; exit 1; }
done
[ "$rc" = 0 ] || { echo "FAIL: the terminal's session ended with status $rc"; exit 1; }
grep -aq "10.0.0.1" "$WORK/typescript" || { echo "FAIL: no frame trace reached the terminal"; exit 1; }
echo "ok: two programs in a tostop terminal connected, the service's trace on that terminal"
