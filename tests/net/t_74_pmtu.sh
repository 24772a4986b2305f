#!/usr/bin/env bash
# Issue 11 item 10: path MTU discovery (RFC 1191). A router namespace whose next link has MTU
# 1280 (veth pair inside the namespaces):
#   tapstack 10.0.0.2 --tap0 (1500)-- 10.0.0.1 [NS, router] 10.0.1.1 --veth (1280)-- 10.0.1.2 [NS2]
# The target advertises MSS 1460 (route advmss), so tapstack first sends 1500-byte segments.
# With DF set the router answers "fragmentation needed, MTU 1280"; tapstack lowers the MSS and
# resends. Checked: the upload arrives intact, the target reassembled no fragments (on main
# segments went without DF and the router fragmented them), the pcap shows the ICMP and the
# later segments fit in 1280 bytes with DF set.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t74
netns_deadline 120
router_setup t74b 1280 1460

head -c 4M /dev/urandom > "$WORK/up"
# The target: reads one connection to the end and writes the SHA-256 of what it got.
sha_sink "$NS2" 10.0.1.2 7074 "$WORK/got.sha"
reasm() { reasm_reqds "$NS2"; }
r_before=$(reasm)
TAPSTACK_PCAP=$WORK/t.pcap ts 60 "$PY" -c '
import socket, sys
s = socket.create_connection(("10.0.1.2", 7074), timeout=30)
s.sendall(open(sys.argv[1], "rb").read())
print("TCP_MAXSEG after upload:", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG))
s.close()
' "$WORK/up"
for _ in $(seq 1 50); do [ -s "$WORK/got.sha" ] && break; sleep 0.2; done
[ "$(cat "$WORK/got.sha" 2>/dev/null)" = "$(sha "$WORK/up")" ] || { echo "FAIL: upload through the 1280 link differs"; exit 1; }
frags=$(( $(reasm) - r_before ))
[ "$frags" -eq 0 ] || { echo "FAIL: the target reassembled $frags fragmented datagrams (no DF, no PMTU discovery)"; exit 1; }
fn=$(tcpdump -nr "$WORK/t.pcap" 'icmp[0] = 3 and icmp[1] = 4' 2>/dev/null | wc -l)
[ "$fn" -ge 1 ] || { echo "FAIL: no fragmentation-needed reached tapstack"; exit 1; }
big=$(tcpdump -nr "$WORK/t.pcap" 'src 10.0.0.2 and tcp and ip[2:2] > 1280' 2>/dev/null | wc -l)
small=$(tcpdump -nr "$WORK/t.pcap" 'src 10.0.0.2 and tcp and ip[2:2] > 1000 and ip[2:2] <= 1280 and ip[6] & 0x40 != 0' 2>/dev/null | wc -l)
nodf=$(tcpdump -nr "$WORK/t.pcap" 'src 10.0.0.2 and tcp and ip[6] & 0x40 = 0' 2>/dev/null | wc -l)
echo "   fragmentation needed: $fn; segments over 1280: $big; full segments within 1280 (DF): $small; without DF: $nodf"
[ "$nodf" -eq 0 ] || { echo "FAIL: TCP segments without DF"; exit 1; }
[ "$small" -ge 3000 ] || { echo "FAIL: only $small segments sized to the 1280 path"; exit 1; }
[ "$big" -le 200 ] || { echo "FAIL: $big segments over the path MTU (MSS not lowered)"; exit 1; }
echo "ok: 4 MiB through a 1280-byte link, MSS lowered by fragmentation needed, no fragments"
