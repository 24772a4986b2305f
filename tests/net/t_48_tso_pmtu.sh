#!/usr/bin/env bash
# TSO and path MTU discovery (RFC 1191) under loss. t_74's topology, without its capture (a
# capture turns TSO off):
#   tapstack 10.0.0.2 --tap0 (1500)-- 10.0.0.1 [NS, router] 10.0.1.1 --veth (1280)-- 10.0.1.2 [NS2]
# tapstack hands the TAP super-segments cut at the 1448-byte MSS the target advertised; the
# router checks each one's segments against the 1280 link (Linux ip_forward,
# skb_gso_validate_network_len), answers "fragmentation needed" and drops it. tapstack must
# lower the MSS and cut what it resends and every later super-segment at the new one. nftables
# drops 2% of the frames each way on tap0 meanwhile (the super-segments whole). Checked: 4 MiB
# arrive intact (sha256) without a fragment at the target, TCP_MAXSEG is the path's, only a few
# fragmentation-needed reached tapstack (segments did shrink: each oversized super-segment
# would cost one), ip.tso_out > 0.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
need_cmd nft nftables
shim_setup t48
netns_deadline 60
router_setup t48b 1280 1460
in_ns nft -f - <<'NFT'
table netdev t48 {
  chain in { type filter hook ingress device tap0 priority 0; ip saddr 10.0.0.2 tcp dport 7110 numgen random mod 100 < 2 counter drop; }
  chain out { type filter hook egress device tap0 priority 0; ip daddr 10.0.0.2 tcp sport 7110 numgen random mod 100 < 2 counter drop; }
}
NFT

head -c 4M /dev/urandom > "$WORK/up"
sha_sink "$NS2" 10.0.1.2 7110 "$WORK/got.sha"
reasm() { reasm_reqds "$NS2"; }
r_before=$(reasm)
# A shimmed program kept alive meanwhile: the service (and its counters) outlives the upload.
(ts 50 "$PY" -c 'import socket, time; s = socket.socket(); s.bind(("10.0.0.2", 7111)); s.listen(1); time.sleep(45)' &)
mss=$(ts 30 "$PY" -c '
import socket, sys
s = socket.create_connection(("10.0.1.2", 7110), timeout=20)
s.sendall(open(sys.argv[1], "rb").read())
print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG))
s.close()
' "$WORK/up")
for _ in $(seq 1 100); do [ -s "$WORK/got.sha" ] && break; sleep 0.1; done
[ "$(cat "$WORK/got.sha" 2>/dev/null)" = "$(sha "$WORK/up")" ] || { echo "FAIL: the upload through the 1280 link differs"; exit 1; }
frags=$(( $(reasm) - r_before ))
[ "$frags" -eq 0 ] || { echo "FAIL: the target reassembled $frags fragmented datagrams"; exit 1; }
[ "$mss" = 1228 ] || { echo "FAIL: TCP_MAXSEG after the upload is '$mss', the 1280 path's is 1228"; exit 1; }
echo "ok: 4 MiB through a 1280-byte link under 2% loss each way, intact, no fragments, MSS $mss"
st=$(ip netns exec "$NS" env TAPSTACK_TAP=tap0 "$ROOT/scripts/tapstack" stats) || { echo "FAIL: tapstack stats: $st"; exit 1; }
fn=$(awk '$1 == "ip.icmp_unreachable_received" { print $2 }' <<<"$st")
tso=$(awk '$1 == "ip.tso_out" { print $2 }' <<<"$st")
drops=$(in_ns nft list ruleset | awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") printf "%s ", $(i + 1) }')
echo "   fragmentation needed received: ${fn:-0}; ip.tso_out: ${tso:-0}; dropped by nftables (in out): $drops"
[ "${fn:-0}" -ge 1 ] || { echo "FAIL: no fragmentation-needed reached tapstack"; exit 1; }
[ "${fn:-0}" -le 8 ] || { echo "FAIL: $fn fragmentation-needed: super-segments kept the old MSS"; exit 1; }
[ "${tso:-0}" -ge 20 ] || { echo "FAIL: only ${tso:-0} TSO super-segments for 4 MiB"; exit 1; }
echo "ok: TSO on (ip.tso_out $tso), segments cut at the lowered MSS after $fn fragmentation-needed"
