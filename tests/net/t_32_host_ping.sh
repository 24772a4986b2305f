#!/usr/bin/env bash
# Issue 3: the stack ARP-resolves 10.0.0.1 and pings it (echo requests from the stack).
#  - `tapstack-host --ping 10.0.0.1 -c 5` gets 5 replies, exit 0
#  - `-s 4000`: fragmented both ways, replies complete (kernel reassembled and fragmented)
#  - an address nobody answers ARP for: exit 1, 100% loss, within a bounded time, no panic
set -euo pipefail
. "$(dirname "$0")/../../scripts/netns-lib.sh"
netns_require_root
trap 'echo "FAIL at line $LINENO: $BASH_COMMAND" >&2' ERR
netns_deadline 120
tapstack_host_bin

netns_make NS t32
netns_tap "$NS" tap0 10.0.0.1/24
netns_tmpdir T
ENV=(TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_MAC=02:00:00:00:00:02)
hping() { timeout 60 ip netns exec "$NS" env "${ENV[@]}" "$TAPSTACK_HOST" --ping "$@"; }
snmp() {
  ip netns exec "$NS" awk -v f="$1" '/^Ip:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c[f] }' /proc/net/snmp
}

echo "== --ping 10.0.0.1 -c 5"
rc=0; hping 10.0.0.1 -c 5 -i 0.2 >"$T/p1" 2>"$T/e1" || rc=$?
cat "$T/p1" "$T/e1"
[ "$rc" -eq 0 ]
grep -q '^5 packets transmitted, 5 received, 0% packet loss' "$T/p1"
[ "$(grep -cE '^64 bytes from 10.0.0.1: icmp_seq=[1-5] ' "$T/p1")" -eq 5 ]

echo "== --ping 10.0.0.1 -c 3 -s 4000"
reasm0=$(snmp ReasmOKs); frag0=$(snmp FragCreates)
rc=0; hping 10.0.0.1 -c 3 -s 4000 -i 0.2 >"$T/p2" 2>"$T/e2" || rc=$?
cat "$T/p2" "$T/e2"
[ "$rc" -eq 0 ]
grep -q '^3 packets transmitted, 3 received' "$T/p2"
[ "$(grep -c '^4008 bytes from 10.0.0.1' "$T/p2")" -eq 3 ]
reasm=$(( $(snmp ReasmOKs) - reasm0 )); frags=$(( $(snmp FragCreates) - frag0 ))
echo "kernel: reassembled $reasm, fragmented into $frags"
[ "$reasm" -ge 3 ]
[ "$frags" -ge 9 ]

echo "== --ping 10.0.0.77 (nobody answers ARP)"
start=$(date +%s)
rc=0; hping 10.0.0.77 -c 2 -i 0.2 -W 1 >"$T/p3" 2>"$T/e3" || rc=$?
secs=$(( $(date +%s) - start ))
cat "$T/p3" "$T/e3"
echo "exit $rc after ${secs}s"
[ "$rc" -eq 1 ]
grep -q '^2 packets transmitted, 0 received, 100% packet loss' "$T/p3"
[ "$secs" -le 15 ]
if grep -q panicked "$T/e3"; then exit 1; fi

echo "== usage errors exit 2"
rc=0; hping 10.0.0.1 -c 0 >/dev/null 2>"$T/e4" || rc=$?
[ "$rc" -eq 2 ]
[ "$(wc -l <"$T/e4")" -eq 1 ]
rc=0; hping 10.0.0.300 >/dev/null 2>"$T/e5" || rc=$?
[ "$rc" -eq 2 ]
[ "$(wc -l <"$T/e5")" -eq 1 ]
echo "PASS"
