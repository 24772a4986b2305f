#!/usr/bin/env bash
# Issue 3: the kernel pings tapstack-host over a TAP device inside a private namespace.
#  - `ping -c 20 10.0.0.2` gets 20 replies
#  - `ping -c 5 -s 4000 10.0.0.2` gets 5 replies, fragmented both ways (checked on both sides:
#    the kernel's /proc/net/snmp in the namespace and the stack's own counters)
#  - afterwards `ip neigh` shows the stack's MAC; SIGTERM makes the host print stats, exit 0.
set -euo pipefail
. "$(dirname "$0")/../../scripts/netns-lib.sh"
netns_require_root
trap 'echo "FAIL at line $LINENO: $BASH_COMMAND" >&2' ERR
netns_deadline 120
tapstack_host_bin
MAC=02:00:00:00:00:02

netns_make NS t30
netns_tap "$NS" tap0 10.0.0.1/24
netns_tmpdir T
netns_host_start "$NS" "$T/out" "$T/err" TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_MAC=$MAC
HOST=$NETNS_LAST_PID

snmp() { # snmp FIELD: the kernel's Ip: counter in the namespace
  ip netns exec "$NS" awk -v f="$1" '/^Ip:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c[f] }' /proc/net/snmp
}

echo "== ping -c 20"
netns_ping "$NS" 20 "$T/ping1" -i 0.2 10.0.0.2
cat "$T/ping1"

reasm0=$(snmp ReasmOKs); frag0=$(snmp FragCreates)
echo "== ping -c 5 -s 4000"
netns_ping "$NS" 5 "$T/ping2" -s 4000 -i 0.2 10.0.0.2
cat "$T/ping2"
[ "$(grep -c '^4008 bytes from 10.0.0.2' "$T/ping2")" -ge 5 ]
if grep -E '^[0-9]+ bytes from' "$T/ping2" | grep -v '^4008 bytes from 10.0.0.2'; then
  echo "FAIL: a reply of another size (above)" >&2; exit 1
fi
reasm=$(( $(snmp ReasmOKs) - reasm0 )); frags=$(( $(snmp FragCreates) - frag0 ))
echo "kernel: reassembled $reasm datagrams from the stack, created $frags fragments"
[ "$reasm" -ge 5 ] || { echo "FAIL: the stack's replies were not fragmented" >&2; exit 1; }
[ "$frags" -ge 15 ] || { echo "FAIL: the kernel's requests were not fragmented" >&2; exit 1; }

echo "== ip neigh"
ip -n "$NS" neigh show 10.0.0.2 dev tap0 | tee "$T/neigh"
grep -qi "lladdr $MAC" "$T/neigh"

echo "== stop"
netns_stop "$HOST" 10 || { echo "FAIL: tapstack-host exited with $?" >&2; cat "$T/err" >&2; exit 1; }
cat "$T/out"
hstat() { grep -oE "^ *$1: [0-9]+" "$T/out" | head -n 1 | grep -oE '[0-9]+$'; }
[ "$(hstat icmp_echo_answered)" -ge 25 ]
[ "$(hstat ip_reassembled)" -ge 5 ]
[ "$(hstat ip_fragments_out)" -ge 5 ]
[ "$(hstat arp_requests_answered)" -ge 1 ]
if grep -q panicked "$T/err"; then cat "$T/err" >&2; exit 1; fi
echo "PASS"
