#!/usr/bin/env bash
# Issue 3: ARP and logging.
#  - `arping -c 3 -I tap0 10.0.0.2` gets 3 replies carrying the stack's MAC
#  - gratuitous ARP from the kernel side (request and reply forms) breaks nothing, and a
#    gratuitous ARP announcing a NEW MAC for 10.0.0.1 updates the stack's cache (RFC 826 merge):
#    the stack's echo replies then go to the new MAC
#  - TAPSTACK_LOG=debug produces log lines on stderr; without it stderr stays empty;
#    TAPSTACK_TRACE=1 logs one line per frame in and out
set -euo pipefail
. "$(dirname "$0")/../../scripts/netns-lib.sh"
netns_require_root
trap 'echo "FAIL at line $LINENO: $BASH_COMMAND" >&2' ERR
netns_deadline 150
tapstack_host_bin
command -v arping >/dev/null || { echo "FATAL: arping missing (scripts/install-deps.sh)" >&2; exit 1; }
MAC=02:00:00:00:00:02

netns_make NS t34
netns_tap "$NS" tap0 10.0.0.1/24
netns_tmpdir T
ENV=(TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_MAC=$MAC)
kping() { netns_ping "$NS" "$1" "$T/ping" -i 0.2 10.0.0.2; }

echo "== arping (no logging configured)"
netns_host_start "$NS" "$T/out" "$T/err" "${ENV[@]}"
HOST=$NETNS_LAST_PID
timeout 20 ip netns exec "$NS" arping -c 3 -w 10 -I tap0 10.0.0.2 >"$T/arping" || true
cat "$T/arping"
grep -q 'Received 3 response' "$T/arping"
[ "$(grep -ci "reply from 10.0.0.2 \[$MAC\]" "$T/arping")" -eq 3 ]

echo "== gratuitous ARP from the kernel side"
timeout 20 ip netns exec "$NS" arping -U -c 2 -I tap0 10.0.0.1 >/dev/null || true   # request form
timeout 20 ip netns exec "$NS" arping -A -c 2 -I tap0 10.0.0.1 >/dev/null || true   # reply form
kping 3

echo "== a gratuitous ARP announcing a new MAC for 10.0.0.1 is merged"
kping 2   # the stack has 10.0.0.1 cached (and the kernel has 10.0.0.2 REACHABLE)
ip -n "$NS" link set tap0 address 02:00:00:00:00:aa
# Changing the address flushes the kernel's neighbours; pin 10.0.0.2 so the kernel never ARPs
# (which would tell the stack the new MAC by itself).
ip -n "$NS" neigh replace 10.0.0.2 lladdr $MAC dev tap0 nud permanent
timeout 20 ip netns exec "$NS" arping -U -c 1 -I tap0 10.0.0.1 >/dev/null || true
# Replies reach the kernel only if the stack now addresses 02:00:00:00:00:aa.
ip -n "$NS" neigh show 10.0.0.2 dev tap0
kping 3

netns_stop "$HOST" 10
cat "$T/out"
if [ -s "$T/err" ]; then
  echo "FAIL: stderr not empty without TAPSTACK_LOG:" >&2; cat "$T/err" >&2; exit 1
fi
answered=$(grep -oE '^ *arp_requests_answered: [0-9]+' "$T/out" | grep -oE '[0-9]+$')
echo "ARP requests answered: $answered"
[ "$answered" -ge 3 ]

echo "== TAPSTACK_LOG=debug"
netns_host_start "$NS" "$T/out2" "$T/err2" "${ENV[@]}" TAPSTACK_LOG=debug
HOST=$NETNS_LAST_PID
kping 2
netns_stop "$HOST" 10
head -n 20 "$T/err2"
[ "$(wc -l <"$T/err2")" -ge 1 ]
grep -q 'DEBUG\|INFO' "$T/err2"
grep -q 'tapstack::runtime.*started on tap0' "$T/err2"

echo "== TAPSTACK_TRACE=1 (one line per frame)"
netns_host_start "$NS" "$T/out3" "$T/err3" "${ENV[@]}" TAPSTACK_TRACE=1
HOST=$NETNS_LAST_PID
kping 2
netns_stop "$HOST" 10
cat "$T/err3"
# One line per frame: as many echo requests in and replies out as ping sent (2, or one more
# when a reply came late: see netns_ping).
sent=$(awk '/packets transmitted/ { print $1 }' "$T/ping")
[ "$sent" -ge 2 ]
[ "$(grep -c 'tapstack::frame: in .*10.0.0.1 > 10.0.0.2 ICMP.* type 8 ' "$T/err3")" -eq "$sent" ]
[ "$(grep -c 'tapstack::frame: out .*10.0.0.2 > 10.0.0.1 ICMP.* type 0 ' "$T/err3")" -eq "$sent" ]
# Trace alone does not turn on the other logs.
if grep -v 'tapstack::frame' "$T/err3" | grep -q .; then echo "FAIL: non-trace log lines" >&2; exit 1; fi
echo "PASS"
