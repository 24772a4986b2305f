#!/usr/bin/env bash
# The service's busy polling (issue 12, TAPSTACK_BUSY_POLL_US) only while traffic flows: after
# 5000 back-to-back round trips a connection stays open and idle for 2 s, then carries a round
# trip every 2 ms for 1 s. Polling must spare the service most of its sleeps during the round
# trips (fewer than 85 % of the sleeps without it), the service must sleep while nothing arrives
# (at most 2 % of a CPU while idle) and must not spin between slow requests (at most 25 %), and
# every echoed byte must be right. The client's poll() polls as well (the shim's svc/spin.rs): it
# too must sleep clearly less often, and use at most 40 % of a CPU (Python included) for the slow
# flow. Run with the default budget and with busy polling off (0). Kernel side: tap0 10.0.0.1/24,
# an echo server; tapstack side 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t99

cat > "$WORK/srv.py" <<'EOF'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.0.1", int(sys.argv[1]))); s.listen(1)
c, _ = s.accept(); c.settimeout(60)
while True:
    b = c.recv(4096)
    if not b:
        break
    c.sendall(b)
EOF
# Writes phase markers ($WORK/pN) and waits for the test's answer ($WORK/aN) before going on.
cat > "$WORK/cli.py" <<'EOF'
import os, socket, sys, time
port, work = int(sys.argv[1]), sys.argv[2]
open("%s/pid" % work, "w").write(str(os.getpid()))
def mark(n):
    open("%s/p%d" % (work, n), "w").close()
    for _ in range(1000):
        if os.path.exists("%s/a%d" % (work, n)):
            return
        time.sleep(0.01)
    raise SystemExit("no answer to phase %d" % n)
def rt(c, i):
    m = (b"%08d" % i) * 8
    c.sendall(m)
    got = b""
    while len(got) < len(m):
        b = c.recv(len(m) - len(got))
        if not b:
            raise SystemExit("closed at round %d" % i)
        got += b
    if got != m:
        raise SystemExit("round %d: echoed %r, want %r" % (i, got[:16], m[:16]))
for _ in range(50):
    try:
        c = socket.create_connection(("10.0.0.1", port), timeout=30); break
    except OSError:
        time.sleep(0.1)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i in range(5000):
    rt(c, i)
mark(1)
time.sleep(2)
mark(2)
t = time.monotonic()
i = 0
while time.monotonic() - t < 1.0:
    rt(c, 5000 + i); i += 1
    time.sleep(0.002)
mark(3)
c.close()
print("ok", 5000 + i)
EOF

HZ=$(getconf CLK_TCK)
# ticks PID: user + system CPU time of PID in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# sleeps PID: the times PID's main thread slept so far (voluntary context switches).
sleeps() { awk '/^voluntary_ctxt_switches/ { print $2 }' "/proc/$1/status"; }
# phase N: waits (bounded) for the client's marker N; sets TK and CTK (the service's and the
# client's ticks), SLEEPS and CSLEEPS (the times they slept so far) and NOW (ns), then lets the
# client go on.
phase() {
  local i pid
  for ((i = 0; i < 600; i++)); do [ -e "$WORK/p$1" ] && break; sleep 0.05; done
  [ -e "$WORK/p$1" ] || { echo "FAIL: the client never reached phase $1: $(cat "$WORK/out")"; exit 1; }
  pid=$(svc_pid)
  [ -n "$pid" ] || { echo "FAIL: no service at phase $1"; exit 1; }
  TK=$(ticks "$pid"); NOW=$(date +%s%N)
  SLEEPS=$(sleeps "$pid")
  CTK=$(ticks "$(cat "$WORK/pid")"); CSLEEPS=$(sleeps "$(cat "$WORK/pid")")
  touch "$WORK/a$1"
}

port=9200
declare -A sleeps csleeps
for budget in default 0; do
  port=$((port + 1))
  rm -f "$WORK"/p? "$WORK"/a? "$WORK/out" "$WORK/pid"
  env_bp=(); [ "$budget" = default ] || env_bp=(TAPSTACK_BUSY_POLL_US="$budget")
  netns_bg "$NS" "$PY" "$WORK/srv.py" "$port"
  netns_wait_port "$NS" "$port"
  tx0=$(tap_bytes tx)
  ts 90 env "${env_bp[@]}" "$PY" "$WORK/cli.py" "$port" "$WORK" > "$WORK/out" 2>&1 &
  cli=$!
  phase 1; t1=$TK; n1=$NOW; sleeps[$budget]=$SLEEPS; csleeps[$budget]=$CSLEEPS
  echo "   busy poll $budget: the service slept ${SLEEPS} times during 5000 back-to-back round trips, the client ${CSLEEPS}"
  phase 2; t2=$TK; n2=$NOW; c2=$CTK
  phase 3; t3=$TK; n3=$NOW; c3=$CTK
  wait "$cli" || { echo "FAIL: client (busy poll $budget): $(cat "$WORK/out")"; exit 1; }
  grep -q '^ok ' "$WORK/out" || { echo "FAIL: client (busy poll $budget): $(cat "$WORK/out")"; exit 1; }
  crossed tx $((5000 * 64)) "$tx0" "echoes (busy poll $budget)"
  idle_pct=$(( (t2 - t1) * 100 * 1000000000 / HZ / (n2 - n1) ))
  slow_pct=$(( (t3 - t2) * 100 * 1000000000 / HZ / (n3 - n2) ))
  cslow_pct=$(( (c3 - c2) * 100 * 1000000000 / HZ / (n3 - n2) ))
  echo "   busy poll $budget: service CPU ${idle_pct}% while idle, ${slow_pct}% with a round trip every 2 ms (the client ${cslow_pct}%)"
  [ "$idle_pct" -le 2 ] || { echo "FAIL: busy poll $budget: the service used ${idle_pct}% of a CPU with nothing to do"; exit 1; }
  [ "$slow_pct" -le 25 ] || { echo "FAIL: busy poll $budget: the service used ${slow_pct}% of a CPU for a slow flow"; exit 1; }
  [ "$cslow_pct" -le 40 ] || { echo "FAIL: busy poll $budget: the client used ${cslow_pct}% of a CPU for a slow flow"; exit 1; }
  echo "ok: busy poll $budget: $(cut -d' ' -f2 "$WORK/out") round trips echoed intact; the service sleeps when idle"
  service_done 5 "busy poll $budget"
done
# Polling works: with it the service slept clearly less often than without (about 2 sleeps per
# round trip without; 25-40 % of that with, measured while the machine was busy).
[ $(( sleeps[default] * 100 )) -lt $(( sleeps[0] * 85 )) ] || {
  echo "FAIL: busy polling spared no sleeps: ${sleeps[default]} with it, ${sleeps[0]} without"; exit 1; }
echo "ok: busy polling: the service slept ${sleeps[default]} times instead of ${sleeps[0]}"
# The client's poll() polls as well (svc/spin.rs): it sleeps clearly less often too.
[ $(( csleeps[default] * 100 )) -lt $(( csleeps[0] * 85 )) ] || {
  echo "FAIL: the client's busy polling spared no sleeps: ${csleeps[default]} with it, ${csleeps[0]} without"; exit 1; }
echo "ok: busy polling: the client slept ${csleeps[default]} times instead of ${csleeps[0]}"
