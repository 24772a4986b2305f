#!/usr/bin/env bash
# Issue 11 item 10: ICMP errors reach sockets. A router namespace (kernel, forwarding) between
# tapstack and a target namespace:
#   tapstack 10.0.0.2 --tap0-- 10.0.0.1 [NS, router] 10.0.1.1 --veth-- 10.0.1.2 [NS2, target]
# 1. `tapstack traceroute -n` (UDP probes, IP_RECVERR + recvmsg(MSG_ERRQUEUE)) prints the hop
#    addresses: the router's time exceeded and the target's port unreachable, read from the
#    error queue with the offender's address (before: only `*`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t73
netns_deadline 120
command -v traceroute >/dev/null || { echo "FAIL: traceroute is not installed (scripts/install-deps.sh)"; exit 1; }
netns_make NS2 t73b
# The veth pair is created inside the router namespace, its peer moved straight into NS2.
ip -n "$NS" link add r0 type veth peer name h0 netns "$NS2"
ip -n "$NS" addr add 10.0.1.1/24 dev r0
ip -n "$NS" link set r0 up
ip -n "$NS2" addr add 10.0.1.2/24 dev h0
ip -n "$NS2" link set h0 up
ip -n "$NS2" route add default via 10.0.1.1
in_ns sysctl -qw net.ipv4.ip_forward=1
# No ICMP rate limit in the router and the target (three probes per hop arrive at once).
for n in "$NS" "$NS2"; do ip netns exec "$n" sysctl -qw net.ipv4.icmp_ratelimit=0; done
in_ns ping -c 1 -W 2 10.0.1.2 >/dev/null || { echo "FAIL: the router cannot reach the target"; exit 1; }

# 1. traceroute through two hops, and to the router itself.
rx_before=$(tap_bytes rx)
ts 60 traceroute -n -w 2 -q 3 -m 5 10.0.1.2 > "$WORK/tr" 2>&1 || true
cat "$WORK/tr"
grep -Eq '^ *1 +10\.0\.0\.1 ' "$WORK/tr" || { echo "FAIL: hop 1 is not 10.0.0.1"; exit 1; }
grep -Eq '^ *2 +10\.0\.1\.2 ' "$WORK/tr" || { echo "FAIL: hop 2 is not 10.0.1.2"; exit 1; }
! grep -Eq '^ *3 ' "$WORK/tr" || { echo "FAIL: traceroute went past the target"; exit 1; }
! grep -q '\*' "$WORK/tr" || { echo "FAIL: unanswered probes"; exit 1; }
crossed rx 500 "$rx_before" "traceroute probes"
ts 30 traceroute -n -w 2 -q 1 10.0.0.1 > "$WORK/tr1" 2>&1 || true
cat "$WORK/tr1"
grep -Eq '^ *1 +10\.0\.0\.1 +[0-9.]+ ms *$' "$WORK/tr1" || { echo "FAIL: traceroute to 10.0.0.1"; exit 1; }
echo "ok: traceroute prints the hops (router's time exceeded, target's port unreachable)"
