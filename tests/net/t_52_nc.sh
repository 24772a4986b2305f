#!/usr/bin/env bash
# netcat-openbsd through tapstack: client (bytes delivered before nc exits) and listening server.
# Kernel side: TAP tap0 10.0.0.1/24 inside a private namespace. tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t52

head -c 1M /dev/urandom > "$WORK/payload"
want=$(sha "$WORK/payload")

# 1. shimmed client -> kernel listener; `nc -N` exits right after writing: the exit drain delivers.
netns_bg "$NS" sh -c "exec nc -l 10.0.0.1 7001 > '$WORK/recv1'"
lpid=$NETNS_LAST_PID
netns_wait_port "$NS" 7001
rx0=$(tap_bytes rx)
ts 30 nc -N 10.0.0.1 7001 < "$WORK/payload"
for _ in $(seq 1 100); do kill -0 "$lpid" 2>/dev/null || break; sleep 0.1; done
got=$(sha "$WORK/recv1")
[ "$got" = "$want" ] || { echo "FAIL: client: listener got $(stat -c %s "$WORK/recv1") bytes, sha256 differs"; exit 1; }
crossed rx 1048576 "$rx0" "nc client"
echo "ok: tapstack nc -N delivered 1 MiB to a kernel listener before exiting"

# 2. small write then immediate exit (printf | nc -N).
netns_bg "$NS" sh -c "exec nc -l 10.0.0.1 7002 > '$WORK/recv2'"
lpid=$NETNS_LAST_PID
netns_wait_port "$NS" 7002
rx0=$(tap_bytes rx)
printf 'data' | ts 30 nc -N 10.0.0.1 7002
for _ in $(seq 1 100); do kill -0 "$lpid" 2>/dev/null || break; sleep 0.1; done
[ "$(cat "$WORK/recv2")" = "data" ] || { echo "FAIL: printf | nc -N: listener got '$(cat "$WORK/recv2")'"; exit 1; }
crossed rx 58 "$rx0" "printf | nc -N"
echo "ok: printf 'data' | tapstack nc -N delivered the bytes"

# 3. shimmed listening server <- kernel client.
tx0=$(tap_bytes tx)
ts 60 sh -c "nc -l 10.0.0.2 7003 > '$WORK/recv3'" &
spid=$!
ok=0
for _ in $(seq 1 100); do
  if in_ns nc -N -w 5 10.0.0.2 7003 < "$WORK/payload" 2>/dev/null; then ok=1; break; fi
  sleep 0.1
done
[ $ok = 1 ] || { echo "FAIL: kernel nc could not connect to tapstack nc -l"; kill $spid 2>/dev/null; exit 1; }
rc=0; wait $spid || rc=$?
[ $rc = 0 ] || { echo "FAIL: tapstack nc -l exited with $rc"; exit 1; }
got=$(sha "$WORK/recv3")
[ "$got" = "$want" ] || { echo "FAIL: server: got $(stat -c %s "$WORK/recv3") bytes, sha256 differs"; exit 1; }
crossed tx 1048576 "$tx0" "nc server"
echo "ok: tapstack nc -l received 1 MiB from a kernel client"

# 4. UDP: shimmed `nc -u` client -> kernel `nc -u -l` (SOCK_DGRAM through tapstack's UDP).
netns_bg "$NS" sh -c "exec nc -u -l 10.0.0.1 7004 > '$WORK/recv4'"
netns_wait_udp_port "$NS" 7004
rx0=$(tap_bytes rx)
printf 'udp datagram through tapstack\n' | ts 10 nc -u -w 1 10.0.0.1 7004 || true
for _ in $(seq 1 30); do [ -s "$WORK/recv4" ] && break; sleep 0.1; done
[ "$(cat "$WORK/recv4")" = "udp datagram through tapstack" ] || { echo "FAIL: nc -u: listener got '$(cat "$WORK/recv4")'"; exit 1; }
crossed rx 60 "$rx0" "nc -u"
echo "ok: tapstack nc -u delivered a datagram to a kernel UDP listener"
