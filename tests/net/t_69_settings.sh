#!/usr/bin/env bash
# A TAP has one stack, set up from the environment of the program that starts its service
# (TAPSTACK_ADDR, _GW, _MAC, _MTU, _PCAP, _FAULTS). A program that attaches to a running service
# while its own environment sets one of these otherwise gets the service's settings, and says so
# on stderr, once, naming both values; a program whose settings agree (or leave them unset)
# says nothing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t69

HOLD='import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); time.sleep(4)'
ONE='import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close(); print("ok")'

echo "== the first program starts the service with TAPSTACK_FAULTS=seed=11"
TAPSTACK_FAULTS=seed=11 ts 20 "$PY" -c "$HOLD" 2>"$WORK/p1.err" &
P1=$!
for _ in $(seq 50); do [ -n "$(svc_pid)" ] && break; sleep 0.1; done
svc=$(svc_pid)
[ -n "$svc" ] || { echo "FAIL: no service started"; exit 1; }
grep -q 'TAPSTACK_FAULTS=seed=11' "/proc/$svc/environ" 2>/dev/null || tr '\0' '\n' <"/proc/$svc/environ" | grep -q '^TAPSTACK_FAULTS=seed=11$' \
  || { echo "FAIL: the service (pid $svc) was not started with the first program's settings"; exit 1; }

run() {  # run NAME ENV...: one shimmed program with ENV added; stderr in $WORK/NAME.err
  local name=$1; shift
  env "$@" timeout -k 5 20 ip netns exec "$NS" env TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 \
    TAPSTACK_GW=10.0.0.1 TAPSTACK_LIB="$LIB" "$ROOT/scripts/tapstack" "$PY" -c "$ONE" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" || true
  grep -qx ok "$WORK/$name.out" || { echo "FAIL: $name: the program did not run"; cat "$WORK/$name.err"; exit 1; }
}

echo "== a second program asks for other faults: told, and served by the same service"
run p2 TAPSTACK_FAULTS=loss=0.5,seed=12
cat "$WORK/p2.err"
grep -q 'runs with TAPSTACK_FAULTS="seed=11", not this program.s "loss=0.5,seed=12"' "$WORK/p2.err" \
  || { echo "FAIL: p2 was not told that its TAPSTACK_FAULTS is not applied"; exit 1; }
[ "$(grep -c '^tapstack:' "$WORK/p2.err")" = 1 ] || { echo "FAIL: p2: expected exactly one message"; exit 1; }
[ "$(svc_pid)" = "$svc" ] || { echo "FAIL: p2 started another service"; exit 1; }

echo "== another MTU: told, with the service's value"
run p3 TAPSTACK_FAULTS=seed=11 TAPSTACK_MTU=1400
cat "$WORK/p3.err"
grep -q 'runs with TAPSTACK_MTU="1500", not this program.s "1400"' "$WORK/p3.err" || { echo "FAIL: p3 not told about TAPSTACK_MTU"; exit 1; }
grep -q TAPSTACK_FAULTS "$WORK/p3.err" && { echo "FAIL: p3 told about a setting that agrees"; exit 1; }

echo "== the same settings, or none of them: nothing said"
run p4 TAPSTACK_FAULTS=seed=11
run p5
for f in p4 p5; do
  if grep -q '^tapstack:' "$WORK/$f.err"; then echo "FAIL: $f said something:"; cat "$WORK/$f.err"; exit 1; fi
done
wait "$P1"
if grep -q '^tapstack:' "$WORK/p1.err"; then echo "FAIL: the first program said something:"; cat "$WORK/p1.err"; exit 1; fi
echo "ok: programs attaching with other TAP settings are told which do not apply; others are not"
service_done 20 "after the programs"
