#!/usr/bin/env bash
# The protocol-independent multicast options (RFC 3678: MCAST_JOIN_GROUP, MCAST_LEAVE_GROUP,
# MCAST_JOIN_SOURCE_GROUP, MCAST_BLOCK_SOURCE; the interface by index) on the wire, from a
# Python program under tapstack (they were ENOPROTOOPT): a member that joined 239.7.4.30 by
# tap0's index with MCAST_JOIN_GROUP receives the kernel's datagram to the group; another
# that joined 239.7.4.31 with MCAST_JOIN_SOURCE_GROUP for 10.0.0.1 receives it and one that
# blocked 10.0.0.1 with MCAST_BLOCK_SOURCE on its 239.7.4.30 join does not; on the kernel side
# tcpdump sees tapstack's IGMPv2 reports for both groups and, after MCAST_LEAVE_GROUP and the
# sockets' close, the leaves.
# (The options' errors against the kernel's: c-tests/mcast_group.c.)
# Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
command -v tcpdump >/dev/null || { echo "FAIL: tcpdump is not installed (make deps)"; exit 1; }
shim_setup t46
chmod 755 "$WORK"
in_ns tcpdump -i tap0 -n -U -w "$WORK/igmp.pcap" igmp 2>/dev/null &
tpid=$!
_NETNS_PIDS+=("$tpid")
for _ in $(seq 1 100); do [ "$(stat -c %s "$WORK/igmp.pcap" 2>/dev/null || echo 0)" -ge 24 ] && break; sleep 0.1; done
[ "$(stat -c %s "$WORK/igmp.pcap" 2>/dev/null || echo 0)" -ge 24 ] || { echo "FAIL: tcpdump did not start"; exit 1; }

cat > "$WORK/member.py" <<'PY'
import select, socket, struct, sys
MCAST_JOIN_GROUP, MCAST_BLOCK_SOURCE, MCAST_LEAVE_GROUP, MCAST_JOIN_SOURCE_GROUP = 42, 43, 45, 46
IP_MULTICAST_ALL = 49
out = sys.argv[1]
idx = socket.if_nametoindex("tap0")
def ss(a):  # a sockaddr_storage holding an AF_INET address
    return struct.pack("=H2x4s120x", socket.AF_INET, socket.inet_aton(a))
def group_req(g):
    return struct.pack("=I4x", idx) + ss(g)
def group_source_req(g, s):
    return struct.pack("=I4x", idx) + ss(g) + ss(s)
def member(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
    s.bind(("0.0.0.0", port))
    return s
any_ = member(7046); any_.setsockopt(socket.IPPROTO_IP, MCAST_JOIN_GROUP, group_req("239.7.4.30"))
blk = member(7046); blk.setsockopt(socket.IPPROTO_IP, MCAST_JOIN_GROUP, group_req("239.7.4.30"))
blk.setsockopt(socket.IPPROTO_IP, MCAST_BLOCK_SOURCE, group_source_req("239.7.4.30", "10.0.0.1"))
ssm = member(7046); ssm.setsockopt(socket.IPPROTO_IP, MCAST_JOIN_SOURCE_GROUP, group_source_req("239.7.4.31", "10.0.0.1"))
open(out + ".joined", "w").close()
res = []
for name, s in (("any-source 239.7.4.30", any_), ("239.7.4.30 blocking 10.0.0.1", blk), ("INCLUDE {10.0.0.1} 239.7.4.31", ssm)):
    got = []
    while select.select([s], [], [], 3 if not got and name != "239.7.4.30 blocking 10.0.0.1" else 0.5)[0]:
        d, a = s.recvfrom(100)
        got.append("%s from %s" % (d.decode(), a[0]))
    res.append("%s: %s" % (name, ", ".join(got) or "nothing"))
any_.setsockopt(socket.IPPROTO_IP, MCAST_LEAVE_GROUP, group_req("239.7.4.30"))
try:
    any_.setsockopt(socket.IPPROTO_IP, MCAST_LEAVE_GROUP, group_req("239.7.4.30")); res.append("left twice: ok")
except OSError as e:
    res.append("left twice: errno %d" % e.errno)
for s in (any_, blk, ssm):
    s.close()
open(out, "w").write("\n".join(res) + "\n")
PY
ts 40 "$PY" "$WORK/member.py" "$WORK/got" 2> "$WORK/member.err" &
mpid=$!
_NETNS_PIDS+=("$mpid")
for _ in $(seq 1 100); do [ -e "$WORK/got.joined" ] && break; kill -0 "$mpid" 2>/dev/null || break; sleep 0.1; done
[ -e "$WORK/got.joined" ] || { echo "FAIL: the shimmed member did not join:"; cat "$WORK/member.err"; exit 1; }
tx0=$(tap_bytes tx)
in_ns "$PY" - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("10.0.0.1"))
s.sendto(b"to-30", ("239.7.4.30", 7046))
s.sendto(b"to-31", ("239.7.4.31", 7046))
PY
wait "$mpid" || { echo "FAIL: the shimmed member exited with $?:"; cat "$WORK/member.err"; exit 1; }
want='any-source 239.7.4.30: to-30 from 10.0.0.1
239.7.4.30 blocking 10.0.0.1: nothing
INCLUDE {10.0.0.1} 239.7.4.31: to-31 from 10.0.0.1
left twice: errno 99'
[ "$(cat "$WORK/got")" = "$want" ] || { echo "FAIL: the members got:"; cat "$WORK/got"; echo "-- expected:"; echo "$want"; exit 1; }
crossed tx 80 "$tx0" "the kernel's datagrams to the groups"
echo "ok: members joined by MCAST_JOIN_GROUP / MCAST_JOIN_SOURCE_GROUP hear the kernel's datagrams; MCAST_BLOCK_SOURCE's does not; a second MCAST_LEAVE_GROUP is EADDRNOTAVAIL"

igmp=""
for _ in $(seq 1 100); do
  igmp=$(tcpdump -r "$WORK/igmp.pcap" -n 2>/dev/null || true)
  grep -q 'igmp leave 239.7.4.30' <<<"$igmp" && grep -q 'igmp leave 239.7.4.31' <<<"$igmp" && break
  sleep 0.1
done
kill "$tpid" 2>/dev/null || true
wait "$tpid" 2>/dev/null || true
for g in 239.7.4.30 239.7.4.31; do
  grep -q "10.0.0.2 > $g: igmp v2 report $g" <<<"$igmp" || { echo "FAIL: no IGMPv2 report for $g from 10.0.0.2:"; echo "$igmp"; exit 1; }
  grep -q "10.0.0.2 > 224.0.0.2: igmp leave $g" <<<"$igmp" || { echo "FAIL: no IGMP leave for $g from 10.0.0.2:"; echo "$igmp"; exit 1; }
done
echo "ok: the kernel side saw tapstack's IGMPv2 reports and leaves for both groups"
