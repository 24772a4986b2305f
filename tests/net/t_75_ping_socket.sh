#!/usr/bin/env bash
# Issue 11 item 10: ICMP datagram sockets (socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), what
# ping opens first) are served by tapstack (raw sockets too, since: t_38).
#   tapstack 10.0.0.2 --tap0-- 10.0.0.1 [NS, router] 10.0.1.1 --veth-- 10.0.1.2 [NS2]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t75
netns_deadline 120
netns_make NS2 t75b
ip -n "$NS" link add r0 type veth peer name h0 netns "$NS2"
ip -n "$NS" addr add 10.0.1.1/24 dev r0
ip -n "$NS" link set r0 up
ip -n "$NS2" addr add 10.0.1.2/24 dev h0
ip -n "$NS2" link set h0 up
ip -n "$NS2" route add default via 10.0.1.1
in_ns sysctl -qw net.ipv4.ip_forward=1
in_ns sysctl -qw net.ipv4.icmp_ratelimit=0

# ICMP datagram sockets for every group (this namespace's default allows none: see the end).
in_ns sysctl -qw net.ipv4.ping_group_range="0 2147483647"

# 1. tapstack ping: echo requests leave through tap0 with our address, replies come back.
rx_before=$(tap_bytes rx)
# -w: ping waits for every reply (bounded); `-c 3` alone gives the last one only 200 ms (see
# netns_ping), and a request more goes out only while a reply is late.
TAPSTACK_PCAP=$WORK/p.pcap ts 30 ping -c 3 -i 0.2 -w 20 10.0.0.1 > "$WORK/ping" 2> "$WORK/ping.err" || true
cat "$WORK/ping" "$WORK/ping.err"
for i in 1 2 3; do
  grep -Eq "^[0-9]+ bytes from 10.0.0.1: icmp_seq=$i ttl=64 " "$WORK/ping" || {
    echo "FAIL: ping 10.0.0.1: no reply with a TTL (IP_RECVTTL) to icmp_seq=$i"; exit 1; }
done
sent=$(awk '/packets transmitted/ { print $1 }' "$WORK/ping")
crossed rx 250 "$rx_before" "3 echo requests"
req=$(tcpdump -nr "$WORK/p.pcap" 'src 10.0.0.2 and dst 10.0.0.1 and icmp[0] = 8' 2>/dev/null | wc -l)
rep=$(tcpdump -nr "$WORK/p.pcap" 'src 10.0.0.1 and dst 10.0.0.2 and icmp[0] = 0' 2>/dev/null | wc -l)
[ "$req" -eq "$sent" ] && [ "$rep" -ge 3 ] && [ "$rep" -le "$req" ] || {
  echo "FAIL: pcap has $req requests and $rep replies (ping sent $sent)"; exit 1; }

# 2. Through the router, and an error read from the error queue (TTL 1: time exceeded).
ts 30 ping -c 2 -i 0.2 -w 20 10.0.1.2 > "$WORK/ping2" || true
grep -Eq '^[0-9]+ bytes from 10.0.1.2: icmp_seq=1 ttl=63 ' "$WORK/ping2" \
  && grep -Eq '^[0-9]+ bytes from 10.0.1.2: icmp_seq=2 ttl=63 ' "$WORK/ping2" || {
  cat "$WORK/ping2"; echo "FAIL: ping through the router"; exit 1; }
out=$(ts 30 ping -c 1 -t 1 -W 2 10.0.1.2 2>&1 || true)
echo "$out"
grep -Eq 'From 10\.0\.0\.1.*(Time to live exceeded|TTL exceeded)' <<<"$out" || {
  echo "FAIL: the router's time exceeded did not reach ping"; exit 1; }

# Last: who may have an ICMP datagram socket is the namespace's net.ipv4.ping_group_range, as on
# Linux: nobody by default (EACCES; ping then opens a raw socket), then every group.
probe='import socket, errno
try: socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP).close(); print("ok")
except OSError as e: print(errno.errorcode[e.errno])'
in_ns sysctl -qw net.ipv4.ping_group_range="1 0"
k=$(in_ns python3 -c "$probe"); t=$(ts 20 python3 -c "$probe")
[ "$k" = EACCES ] && [ "$t" = EACCES ] || { echo "FAIL: ping socket with no group allowed: kernel $k, tapstack $t"; exit 1; }
in_ns sysctl -qw net.ipv4.ping_group_range="0 2147483647"
k=$(in_ns python3 -c "$probe"); t=$(ts 20 python3 -c "$probe")
[ "$k" = ok ] && [ "$t" = ok ] || { echo "FAIL: ping socket with every group allowed: kernel $k, tapstack $t"; exit 1; }
echo "ok: ping through tapstack's ICMP datagram sockets"
