#!/usr/bin/env bash
# Issue 3: TAPSTACK_PCAP writes every frame sent and received in pcap format.
#  - the file opens with `tcpdump -r`, holds exactly the frames the runtime counted, and contains
#    ARP and ICMP echo in both directions (kernel pings the stack; the stack pings the kernel);
#  - `tcpdump -vv` reports no bad checksums (IP header, ICMP), fragments included.
set -euo pipefail
. "$(dirname "$0")/../../scripts/netns-lib.sh"
netns_require_root
trap 'echo "FAIL at line $LINENO: $BASH_COMMAND" >&2' ERR
netns_deadline 120
tapstack_host_bin
command -v tcpdump >/dev/null || { echo "FATAL: tcpdump missing (scripts/install-deps.sh)" >&2; exit 1; }
MAC=02:00:00:00:00:02

netns_make NS t31
netns_tap "$NS" tap0 10.0.0.1/24
netns_tmpdir T
ENV=(TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_MAC=$MAC)

# 1. The kernel pings the serving stack (small and fragmented).
netns_host_start "$NS" "$T/out" "$T/err" "${ENV[@]}" TAPSTACK_PCAP="$T/serve.pcap"
HOST=$NETNS_LAST_PID
netns_ping "$NS" 3 "$T/p1" -i 0.2 10.0.0.2
netns_ping "$NS" 2 "$T/p2" -s 3000 -i 0.2 10.0.0.2
netns_stop "$HOST" 10
rx=$(grep -oE 'rx_frames: [0-9]+' "$T/out" | tail -n 1 | grep -oE '[0-9]+')
tx=$(grep -oE 'tx_frames: [0-9]+' "$T/out" | tail -n 1 | grep -oE '[0-9]+')

tcpdump -nn -e -r "$T/serve.pcap" >"$T/serve.txt" 2>"$T/tcpdump.err"
cat "$T/serve.txt"
frames=$(wc -l <"$T/serve.txt")
echo "pcap: $frames frames; runtime counted rx $rx + tx $tx"
[ "$frames" -eq $((rx + tx)) ]
grep -q 'Request who-has 10.0.0.2 tell 10.0.0.1' "$T/serve.txt"
grep -q "Reply 10.0.0.2 is-at $MAC" "$T/serve.txt"
[ "$(grep -c '10.0.0.1 > 10.0.0.2: ICMP echo request' "$T/serve.txt")" -ge 5 ]
[ "$(grep -c '10.0.0.2 > 10.0.0.1: ICMP echo reply' "$T/serve.txt")" -ge 5 ]
# The 3000-byte pings travel as fragments in both directions (MF set or offset nonzero).
for src in 10.0.0.1 10.0.0.2; do
  n=$(tcpdump -nn -r "$T/serve.pcap" "src host $src and ip[6:2] & 0x3fff != 0" 2>/dev/null | wc -l)
  echo "fragments from $src: $n"
  [ "$n" -ge 6 ]
done

# 2. The stack pings the kernel (its ARP cache starts empty, so it ARPs first).
timeout 30 ip netns exec "$NS" env "${ENV[@]}" TAPSTACK_PCAP="$T/ping.pcap" \
  "$TAPSTACK_HOST" --ping 10.0.0.1 -c 3 -i 0.2 >"$T/ping.out" 2>"$T/ping.err"
cat "$T/ping.out"
tcpdump -nn -e -r "$T/ping.pcap" >"$T/ping.txt" 2>/dev/null
cat "$T/ping.txt"
grep -q "$MAC > ff:ff:ff:ff:ff:ff.*Request who-has 10.0.0.1 tell 10.0.0.2" "$T/ping.txt"
grep -q "Reply 10.0.0.1 is-at" "$T/ping.txt"
[ "$(grep -c '10.0.0.2 > 10.0.0.1: ICMP echo request' "$T/ping.txt")" -eq 3 ]
[ "$(grep -c '10.0.0.1 > 10.0.0.2: ICMP echo reply' "$T/ping.txt")" -eq 3 ]

# 3. No bad checksums anywhere: tcpdump -v verifies IPv4 header checksums ("bad cksum") and
# ICMP checksums ("wrong icmp cksum") and says nothing when they are right.
for f in serve ping; do
  tcpdump -nn -vv -r "$T/$f.pcap" >"$T/$f.vv" 2>/dev/null
  if grep -Ei 'bad cksum|wrong .*cksum' "$T/$f.vv"; then
    echo "FAIL: tcpdump reports bad checksums in $f.pcap" >&2; exit 1
  fi
done
# Control: the same check does catch a corrupted IPv4 header checksum.
python3 - "$T/ping.pcap" "$T/bad.pcap" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
i = 24
while i + 16 <= len(b):
    incl = struct.unpack_from('<I', b, i + 8)[0]
    f = i + 16
    if b[f + 12:f + 14] == b'\x08\x00':
        b[f + 14 + 10] ^= 0xff
        break
    i = f + incl
open(sys.argv[2], 'wb').write(b)
PY
tcpdump -nn -vv -r "$T/bad.pcap" 2>/dev/null | grep -q 'bad cksum'
echo "PASS"
