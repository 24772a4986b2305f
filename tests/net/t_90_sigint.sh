#!/usr/bin/env bash
# Ctrl-C ends a shimmed python3 blocked in accept() within 1 s (issue 10, signals): SIGINT sent
# from outside (as a terminal does) to a python3 whose main thread blocks in accept() on a
# tapstack listener, (a) with Python's own handler (KeyboardInterrupt), (b) with SIGINT's default
# action (the process dies of the signal). Also (c) blocked in recv() on a connection.
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
