#!/usr/bin/env bash
# More connections than the service's RLIMIT_NOFILE (issue 12, "the stack holds 50,000
# concurrent connections"; 20,000 descriptors per process here): the service holds one
# descriptor per socket, so with its limit at 400 it has ~350 connections in hand; the others
# idle with keeper processes (stack/src/service/keep.rs). A shimmed idle_conns (bench/src; each
# of its processes also limited to 400, so it forks 4) opens 1,200 connections to kernel
# servers, 32 connects in flight per process, exchanges a request on each, holds them idle 3 s,
# sends a second request on every one (stored connections come back when their program
# writes) and closes them all (the servers must see every close: FIN from stored connections
# too). Checked: every reply right, 1,200 open at once at the servers, keepers started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t42
BIN=$ROOT/c-tests/bin
[ -x "$BIN/many_conns" ] || { echo "FAIL: c-tests not built (make -C c-tests)"; exit 1; }
cc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$WORK/idle_conns" "$ROOT/bench/src/idle_conns.c"
K=1200 P=2 LIMIT=400

for p in $(seq 0 $((P - 1))); do
  netns_bg "$NS" "$BIN/many_conns" server -p $((7140 + p)) -k $((K / P)) -w 90 > "$WORK/srv$p.out" 2> "$WORK/srv$p.err"
  srvs+=("${_NETNS_PIDS[-1]}")
  netns_wait_port "$NS" $((7140 + p))
done
rx0=$(tap_bytes rx)
# The hard limit binds the client and the service it starts (tapstackd raises only its soft
# limit, to the hard one).
( ulimit -Hn $LIMIT -Sn $LIMIT
  exec ip netns exec "$NS" env TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_GW=10.0.0.1 \
    TAPSTACK_LIB="$LIB" timeout -k 5 90 "$ROOT/scripts/tapstack" \
    "$WORK/idle_conns" -c 10.0.0.1 -p 7140 -P $P -k $K -W 32 -H 3000 -R -w 80 ) \
  > "$WORK/cli.out" 2> "$WORK/cli.err" &
cli=$!
_NETNS_PIDS+=($cli)
# While they are held: the service and its keepers.
svc=; keepers=0
for _ in $(seq 300); do
  grep -q '^peak_rss_kb' "$WORK/cli.out" 2>/dev/null && break
  sleep 0.1
done
svc=$(svc_pid)
# pgrep -c prints 0 and exits 1 when nothing matches (asserted below); 2 or more is its error.
[ -n "$svc" ] && { keepers=$(pgrep -c -P "$svc" -f -- --keeper) || [ $? = 1 ]; }
svc_limit=$([ -z "$svc" ] || awk '/^Max open files/ { print $5 }' "/proc/$svc/limits")
wait $cli || { echo "FAIL: idle_conns:"; cat "$WORK/cli.out" "$WORK/cli.err"; exit 1; }
grep -q "^processes [2-9]" "$WORK/cli.out" && grep -q "^held $K$" "$WORK/cli.out" &&
  grep -q "^second_ok $K$" "$WORK/cli.out" && grep -q "^closed $K$" "$WORK/cli.out" || {
  echo "FAIL: idle_conns:"; cat "$WORK/cli.out" "$WORK/cli.err"; exit 1; }
echo "ok: $K connections from $(awk '/^processes/ { print $2 }' "$WORK/cli.out") processes, each answered before and after 3 s idle"
open=0
for p in $(seq 0 $((P - 1))); do
  wait "${srvs[$p]}" || { echo "FAIL: server $p:"; cat "$WORK/srv$p.out" "$WORK/srv$p.err"; exit 1; }
  grep -q "closed by client $((K / P)), bad 0" "$WORK/srv$p.out" || { echo "FAIL: server $p: $(cat "$WORK/srv$p.out")"; exit 1; }
  open=$((open + $(awk '/^peak open/ { print $3 }' "$WORK/srv$p.out")))
done
[ "$open" = $K ] || { echo "FAIL: the servers had at most $open connections open at once, not $K"; exit 1; }
echo "ok: the servers had all $K open at once and saw each closed by the client"
[ "$svc_limit" = $LIMIT ] || { echo "FAIL: the service's descriptor limit is '${svc_limit}', not $LIMIT"; exit 1; }
[ "$keepers" -ge 1 ] || { echo "FAIL: no keeper process under the service (${svc:-none})"; exit 1; }
echo "ok: the service (limit $LIMIT descriptors) served them with $keepers keeper(s)"
crossed rx $((K * 60)) "$rx0" "$K connections"
service_done 20 "client, service and keepers"
