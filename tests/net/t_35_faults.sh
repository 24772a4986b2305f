#!/usr/bin/env bash
# Runtime wiring of TAPSTACK_FAULTS (phy::fault::FaultDevice between the stack and the TAP):
#  - delay=50ms on both directions: kernel-measured RTT is >= 100 ms and, because the runtime
#    wakes for the device's own deadlines (Device::poll_at) instead of waiting for the next
#    frame, under the 500 ms ping interval (< 450 ms: a reply held until the next frame takes
#    >= 500 ms; the margin is for a busy machine)
#  - loss=0.3: some but not all pings are answered
set -euo pipefail
. "$(dirname "$0")/../../scripts/netns-lib.sh"
netns_require_root
trap 'echo "FAIL at line $LINENO: $BASH_COMMAND" >&2' ERR
netns_deadline 120
tapstack_host_bin

netns_make NS t35
netns_tap "$NS" tap0 10.0.0.1/24
netns_tmpdir T
ENV=(TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_MAC=02:00:00:00:00:02)

echo "== delay=50ms"
netns_host_start "$NS" "$T/out" "$T/err" "${ENV[@]}" TAPSTACK_FAULTS=delay=50ms
HOST=$NETNS_LAST_PID
# Warm-up: the first ping also waits for the (equally delayed) ARP exchange.
timeout 10 ip netns exec "$NS" ping -n -c 1 -W 3 10.0.0.2 >/dev/null || true
netns_ping "$NS" 5 "$T/p1" -i 0.5 10.0.0.2 || { cat "$T/p1"; false; }
cat "$T/p1"
read -r min max < <(awk -F'[/ =]+' '/^rtt/ { print $6, $8 }' "$T/p1")
echo "rtt min $min ms, max $max ms"
awk -v a="$min" -v b="$max" 'BEGIN { exit !(a >= 100 && b < 450) }'
netns_stop "$HOST" 10

echo "== loss=0.3"
netns_host_start "$NS" "$T/out2" "$T/err2" "${ENV[@]}" TAPSTACK_FAULTS=loss=0.3,seed=3
HOST=$NETNS_LAST_PID
timeout 60 ip netns exec "$NS" ping -n -c 40 -i 0.05 -W 1 10.0.0.2 >"$T/p2" || true
tail -n 3 "$T/p2"
got=$(awk '/packets transmitted/ { print $4 }' "$T/p2")
echo "received $got of 40"
[ "$got" -ge 4 ]
[ "$got" -le 36 ]
netns_stop "$HOST" 10
echo "PASS"
