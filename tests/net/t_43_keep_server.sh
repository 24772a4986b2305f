#!/usr/bin/env bash
# A shimmed server holding more connections than its service has descriptors (issue 12; the
# accept path with keepers, stack/src/service/keep.rs): the service is started by a shimmed
# program limited to 1,000 descriptors (it inherits the limit); a shimmed Python asyncio
# server (its own limit the usual one) accepts 6,000 connections from a kernel client
# (bench/src/idle_conns.c), answers a request on each, and after 3 s idle answers a second one
# on each (requests arriving for stored connections fetch them back); then the client closes
# them all and the server sees every close.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t43
cc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$WORK/idle_conns" "$ROOT/bench/src/idle_conns.c"
K=6000 LIMIT=1000
cat > "$WORK/srv.py" <<'PY'
import asyncio, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
closed = 0
async def handle(r, w):
    global closed
    try:
        while True:  # the protocol of c-tests/many_conns.c
            b = await r.readexactly(8)
            v = int.from_bytes(b[4:8], 'big')
            w.write(b'AMC:' + ((v * 7 + 1) & 0xffffffff).to_bytes(4, 'big'))
            await w.drain()
    except asyncio.IncompleteReadError:
        pass
    w.close()
    closed += 1
async def main():
    await asyncio.start_server(handle, '0.0.0.0', 7160, backlog=4096)
    open(sys.argv[1], 'w').close()
    while closed < int(sys.argv[2]):
        await asyncio.sleep(0.1)
    print('closed', closed, flush=True)
asyncio.run(main())
PY
( ulimit -Hn $LIMIT -Sn $LIMIT
  exec ip netns exec "$NS" env TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_GW=10.0.0.1 \
    TAPSTACK_LIB="$LIB" timeout 100 "$ROOT/scripts/tapstack" "$PY" -c 'import socket, sys, time
s = socket.socket(); open(sys.argv[1], "w").close(); time.sleep(90)' "$WORK/holder" ) &
holder=$!
_NETNS_PIDS+=($holder)
for _ in $(seq 100); do [ -e "$WORK/holder" ] && break; sleep 0.1; done
svc=$(svc_pid)
[ -n "$svc" ] && [ "$(awk '/^Max open files/ { print $5 }' "/proc/$svc/limits")" = $LIMIT ] || {
  echo "FAIL: no service with a $LIMIT-descriptor limit (pid '${svc}')"; exit 1; }
ts 100 "$PY" "$WORK/srv.py" "$WORK/ready" $K > "$WORK/srv.out" 2> "$WORK/srv.err" &
srv=$!
_NETNS_PIDS+=($srv)
for _ in $(seq 100); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
[ -e "$WORK/ready" ] || { echo "FAIL: the server did not start:"; cat "$WORK/srv.err"; exit 1; }
rx0=$(tap_bytes rx)
in_ns "$WORK/idle_conns" -c 10.0.0.2 -p 7160 -P 1 -k $K -W 256 -H 3000 -R -w 80 > "$WORK/cli.out" 2>&1 || {
  echo "FAIL: idle_conns:"; cat "$WORK/cli.out"; exit 1; }
grep -q "^held $K$" "$WORK/cli.out" && grep -q "^second_ok $K$" "$WORK/cli.out" || { echo "FAIL: idle_conns:"; cat "$WORK/cli.out"; exit 1; }
# pgrep -c prints 0 and exits 1 when nothing matches (asserted below); 2 or more is its error.
keepers=$(pgrep -c -P "$svc" -f -- --keeper) || [ $? = 1 ]
echo "ok: $K connections to a shimmed asyncio server answered before and after 3 s idle ($(awk '/^second_secs/ { print $2 }' "$WORK/cli.out") s)"
wait $srv || { echo "FAIL: server:"; cat "$WORK/srv.out" "$WORK/srv.err"; exit 1; }
grep -q "^closed $K$" "$WORK/srv.out" || { echo "FAIL: server: $(cat "$WORK/srv.out")"; exit 1; }
[ "${keepers:-0}" -ge 1 ] || { echo "FAIL: no keeper under the service ($svc)"; exit 1; }
echo "ok: the server saw all $K closed; the service (limit $LIMIT descriptors) had $keepers keeper(s)"
crossed rx $((K * 60)) "$rx0" "$K connections"
kill "$holder" || { echo "FAIL: the program holding the service ($holder) ended before the test did"; exit 1; }
service_done 20 "server, service and keepers"
