#!/usr/bin/env bash
# IP_PKTINFO and IPv4 multicast through tapstack with real programs.
# 1. dnsmasq under tapstack in its default mode (no --bind-interfaces: one socket on
#    0.0.0.0:53 that learns each query's interface and destination from IP_PKTINFO and answers
#    from that address with an IP_PKTINFO control message) serves the kernel's dig.
# 2. Multicast both ways across the TAP (python3 sockets): a shimmed receiver that joined
#    239.7.3.6 gets the kernel's datagrams to the group (and tcpdump on the kernel side sees its
#    IGMPv2 report and, when it leaves, the leave); a shimmed sender's datagrams to the group
#    reach a kernel receiver, with the TTL it set (IP_MULTICAST_TTL); a router's query is
#    answered with a report within its Max Resp Time (after a random delay); a join's report
#    is repeated once within the Unsolicited Report Interval (10 s).
# Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
for t in dig dnsmasq tcpdump; do command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (make deps)"; exit 1; }; done
shim_setup t77
chmod 755 "$WORK"

# 1. dnsmasq (wildcard socket + IP_PKTINFO) under tapstack, asked by the kernel's dig.
printf '10.0.0.7 seven.test\n' > "$WORK/dns-hosts"
: > "$WORK/dnsmasq.log"
ts 60 dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
  --addn-hosts="$WORK/dns-hosts" --local=/test/ --port=53 --user=root \
  --pid-file="$WORK/dnsmasq.pid" --log-queries --log-facility="$WORK/dnsmasq.log" 2>"$WORK/dnsmasq.err" &
dpid=$!
_NETNS_PIDS+=("$dpid")
rx0=$(tap_bytes rx)
out=""
for _ in $(seq 1 20); do
  out=$(in_ns dig +tries=1 +time=1 @10.0.0.2 seven.test A 2>&1) || true
  grep -q 'status: NOERROR' <<<"$out" && break
  kill -0 "$dpid" 2>/dev/null || break
  sleep 0.3
done
# (here-strings, not `echo | grep -q`: under pipefail grep's early exit can fail echo with SIGPIPE)
grep -Eq '^seven\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A[[:space:]]+10\.0\.0\.7$' <<<"$out" || {
  echo "FAIL: kernel dig @10.0.0.2 seven.test (dnsmasq under tapstack, no --bind-interfaces):"; echo "$out"
  echo "-- dnsmasq stderr:"; cat "$WORK/dnsmasq.err"; echo "-- dnsmasq log:"; tail -n 20 "$WORK/dnsmasq.log"; exit 1; }
grep -q ';; SERVER: 10.0.0.2#53(10.0.0.2) (UDP)' <<<"$out" || { echo "FAIL: the answer did not come from 10.0.0.2 over UDP:"; echo "$out" | tail -5; exit 1; }
grep -q 'query\[A\] seven.test from 10.0.0.1' "$WORK/dnsmasq.log" || { echo "FAIL: dnsmasq logged no query from 10.0.0.1"; exit 1; }
grep -qi 'bind-interfaces\|failed to' "$WORK/dnsmasq.err" "$WORK/dnsmasq.log" && { echo "FAIL: dnsmasq complained:"; cat "$WORK/dnsmasq.err"; exit 1; }
crossed rx 60 "$rx0" "dnsmasq's answer"
echo "ok: dnsmasq under tapstack without --bind-interfaces (IP_PKTINFO) answers the kernel's dig from 10.0.0.2"
kill "$dpid" 2>/dev/null || true

# capture_igmp FILE: tcpdump of tap0's IGMP into FILE, started once the file holds its header
# (bounded: 10 s; its pid in tpid). igmp_seen FILE REGEX: the captured lines matching REGEX.
# stop_capture: ends it.
capture_igmp() {
  in_ns tcpdump -i tap0 -n -tt -U -w "$1" igmp 2>/dev/null &
  tpid=$!
  _NETNS_PIDS+=("$tpid")
  for _ in $(seq 1 100); do [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge 24 ] && break; sleep 0.1; done
  [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge 24 ] || { echo "FAIL: tcpdump did not start"; exit 1; }
}
igmp_seen() { tcpdump -r "$1" -n -tt 2>/dev/null | grep -E "$2" || true; }
stop_capture() { kill "$tpid" 2>/dev/null || true; wait "$tpid" 2>/dev/null || true; }

# 2a. Kernel sender -> shimmed member of 239.7.3.6; the kernel side sees the IGMP messages.
capture_igmp "$WORK/igmp.pcap"
cat > "$WORK/recv.py" <<'EOF'
import socket, struct, sys
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux's values, when Python lacks the names
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
group, port, iface, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton(iface))
s.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
open(out + ".joined", "w").close()
s.settimeout(15)
data, anc, flags, src = s.recvmsg(2048, 256)
ttl = dst = None
for level, kind, d in anc:
    if level == socket.IPPROTO_IP and kind == socket.IP_TTL:
        ttl = struct.unpack("i", d[:4])[0]
    if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
        dst = socket.inet_ntoa(d[8:12])
with open(out, "w") as f:
    f.write("%s from %s to %s ttl %s\n" % (data.decode(), src[0], dst, ttl))
s.setsockopt(socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton(iface))
EOF
cat > "$WORK/send.py" <<'EOF'
import os, socket, sys, time
group, port, iface, ttl, text, until = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
for _ in range(50):  # until the receiver wrote what it got (bounded: 10 s)
    s.sendto(text.encode(), (group, port))
    if os.path.exists(until):
        break
    time.sleep(0.2)
EOF
ts 30 "$PY" "$WORK/recv.py" 239.7.3.6 7037 10.0.0.2 "$WORK/got-a" &
rpid=$!
_NETNS_PIDS+=("$rpid")
for _ in $(seq 1 100); do [ -e "$WORK/got-a.joined" ] && break; sleep 0.1; done
[ -e "$WORK/got-a.joined" ] || { echo "FAIL: the shimmed receiver did not join"; exit 1; }
tx0=$(tap_bytes tx)
in_ns timeout 20 "$PY" "$WORK/send.py" 239.7.3.6 7037 10.0.0.1 4 "kernel-to-group" "$WORK/got-a"
wait "$rpid" || { echo "FAIL: the shimmed receiver exited with $?"; exit 1; }
grep -qx 'kernel-to-group from 10.0.0.1 to 239.7.3.6 ttl 4' "$WORK/got-a" \
  || { echo "FAIL: shimmed member of 239.7.3.6 got: $(cat "$WORK/got-a" 2>/dev/null)"; exit 1; }
crossed tx 40 "$tx0" "the kernel's datagrams to the group"
echo "ok: a shimmed member of 239.7.3.6 receives the kernel's datagram to the group (ipi_addr = the group, TTL 4)"
# The leave follows the receiver's IP_DROP_MEMBERSHIP; wait for it (bounded: 10 s).
igmp=""
for _ in $(seq 1 100); do
  igmp=$(igmp_seen "$WORK/igmp.pcap" igmp)
  grep -q 'igmp leave 239.7.3.6' <<<"$igmp" && break
  sleep 0.1
done
stop_capture
grep -q '10.0.0.2 > 239.7.3.6: igmp v2 report 239.7.3.6' <<<"$igmp" \
  || { echo "FAIL: the kernel side saw no IGMPv2 report for 239.7.3.6 from 10.0.0.2:"; echo "$igmp"; exit 1; }
grep -q '10.0.0.2 > 224.0.0.2: igmp leave 239.7.3.6' <<<"$igmp" \
  || { echo "FAIL: the kernel side saw no IGMP leave for 239.7.3.6 from 10.0.0.2:"; echo "$igmp"; exit 1; }
echo "ok: the kernel side saw tapstack's IGMPv2 report on join and leave on drop"

# 2b. Shimmed sender -> kernel member (IP_MULTICAST_TTL 3 on the wire).
in_ns timeout 30 "$PY" "$WORK/recv.py" 239.7.3.6 7038 10.0.0.1 "$WORK/got-b" &
kpid=$!
_NETNS_PIDS+=("$kpid")
for _ in $(seq 1 100); do [ -e "$WORK/got-b.joined" ] && break; sleep 0.1; done
[ -e "$WORK/got-b.joined" ] || { echo "FAIL: the kernel receiver did not join"; exit 1; }
rx0=$(tap_bytes rx)
ts 20 "$PY" "$WORK/send.py" 239.7.3.6 7038 10.0.0.2 3 "tapstack-to-group" "$WORK/got-b"
wait "$kpid" || { echo "FAIL: the kernel receiver exited with $?"; exit 1; }
grep -qx 'tapstack-to-group from 10.0.0.2 to 239.7.3.6 ttl 3' "$WORK/got-b" \
  || { echo "FAIL: kernel member of 239.7.3.6 got: $(cat "$WORK/got-b" 2>/dev/null)"; exit 1; }
crossed rx 40 "$rx0" "tapstack's datagrams to the group"
echo "ok: a shimmed sender's datagram to 239.7.3.6 reaches a kernel member with TTL 3 (IP_MULTICAST_TTL)"

# 2c. A router's general query (Max Resp Time 2 s, sent by the kernel side through a raw IGMP
# socket) is answered by a shimmed member with a report for its group after a random delay
# within those 2 s (RFC 2236 3): the service wakes for the report's timer.
cat > "$WORK/hold.py" <<'EOF'
import os, socket, sys, time
group, iface, until = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton(iface))
open(until + ".joined", "w").close()
for _ in range(200):  # until told to leave (bounded: 20 s)
    if os.path.exists(until):
        break
    time.sleep(0.1)
EOF
cat > "$WORK/query.py" <<'EOF'
import socket, struct, sys
max_resp, iface = int(sys.argv[1]), sys.argv[2]
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF
m = struct.pack("!BBH4s", 0x11, max_resp, 0, bytes(4))
m = m[:2] + struct.pack("!H", csum(m)) + m[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface))
s.sendto(m, ("224.0.0.1", 0))
EOF
capture_igmp "$WORK/query.pcap"
ts 30 "$PY" "$WORK/hold.py" 239.7.3.9 10.0.0.2 "$WORK/held" &
hpid=$!
_NETNS_PIDS+=("$hpid")
for _ in $(seq 1 100); do [ -e "$WORK/held.joined" ] && break; sleep 0.1; done
[ -e "$WORK/held.joined" ] || { echo "FAIL: the shimmed member did not join"; exit 1; }
sleep 0.5  # the join's own report goes first (its repeat may come any time within 10 s)
in_ns "$PY" "$WORK/query.py" 20 10.0.0.1
reports=""
for _ in $(seq 1 60); do  # bounded: 6 s
  reports=$(igmp_seen "$WORK/query.pcap" 'igmp (query|v2 report 239\.7\.3\.9)')
  echo "$reports" | awk '/igmp query/ { q = 1; next }
    q && /10\.0\.0\.2 > 239\.7\.3\.9: igmp v2 report/ { f = 1 } END { exit !f }' && break
  sleep 0.1
done
: > "$WORK/held"
wait "$hpid" || true
stop_capture
# The query's time, then the first report after it: at most 2 s later (plus 1.5 s of slack for
# a loaded machine; without the timer's wake-up it would never come).
echo "$reports" | awk '
  /igmp query/ && !q { q = $1; next }
  q && /10\.0\.0\.2 > 239\.7\.3\.9: igmp v2 report/ { d = $1 - q; found = 1; exit }
  END { if (!found) { print "FAIL: no report for 239.7.3.9 after the query"; exit 1 }
        if (d < 0 || d > 3.5) { printf "FAIL: the report came %.3f s after the query (Max Resp Time 2 s)\n", d; exit 1 }
        printf "ok: a query with Max Resp Time 2 s answered after %.3f s (random delay, RFC 2236 3)\n", d }' \
  || { echo "$reports"; exit 1; }

# 2d. A join's report is repeated once, after a random delay below the Unsolicited Report
# Interval (10 s; RFC 2236 3, Linux in IGMPv2 mode): the service wakes for the repeat.
capture_igmp "$WORK/join.pcap"
ts 30 "$PY" "$WORK/hold.py" 239.7.3.10 10.0.0.2 "$WORK/held2" &
hpid=$!
_NETNS_PIDS+=("$hpid")
joins=""
for _ in $(seq 1 130); do  # bounded: 13 s
  joins=$(igmp_seen "$WORK/join.pcap" '10\.0\.0\.2 > 239\.7\.3\.10: igmp v2 report')
  [ "$(echo "$joins" | grep -c report)" -ge 2 ] && break
  sleep 0.1
done
sleep 1  # a third report would come too soon after the second to miss
joins=$(igmp_seen "$WORK/join.pcap" '10\.0\.0\.2 > 239\.7\.3\.10: igmp v2 report')
: > "$WORK/held2"
wait "$hpid" || true
stop_capture
echo "$joins" | awk '
  NR == 1 { t1 = $1 } NR == 2 { t2 = $1 }
  END { if (NR != 2) { printf "FAIL: %d reports for 239.7.3.10 after the join (want 2)\n", NR; exit 1 }
        if (t2 - t1 > 11.5) { printf "FAIL: the repeat came %.3f s after the first report (within 10 s)\n", t2 - t1; exit 1 }
        printf "ok: the join report repeated once, %.3f s later (Unsolicited Report Interval 10 s)\n", t2 - t1 }' \
  || { echo "$joins"; exit 1; }
