#!/usr/bin/env bash
# dnsmasq as a shimmed DNS server in its default (wildcard) mode, answering the kernel's dig
# over UDP and over TCP, and the rtnetlink view of the TAP under the shim.
#  1. `dnsmasq -i tap0` (wildcard sockets, IP_PKTINFO) answers UDP and TCP queries to
#     tapstack's 10.0.0.2. For TCP, dnsmasq accepts a connection only if its local address is
#     an address it enumerated over its own NETLINK_ROUTE socket: the kernel reports the TAP's
#     10.0.0.1, so before the shim rewrote those messages (preload/src/netlink.rs) dnsmasq
#     closed every TCP query unanswered (dig: "communications error ... end of file").
#  2. `ip -4 -o addr show dev tap0` (iproute2 reads rtnetlink itself) shows 10.0.0.2/24 under
#     the shim, as getifaddrs does, and 10.0.0.1/24 without it.
# Kernel side: TAP tap0 10.0.0.1/24 inside a private namespace. tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
for t in dnsmasq dig ip; do
  command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (make deps)"; exit 1; }
done
shim_setup t40
chmod 755 "$WORK"

printf '10.1.2.3 foo.test\n10.1.2.4 bar.test\n' > "$WORK/hosts"
ts 30 dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --addn-hosts="$WORK/hosts" \
  --interface=tap0 --port=53 --user=root --pid-file="$WORK/dnsmasq.pid" --log-facility="$WORK/dnsmasq.log" &
dpid=
for _ in $(seq 1 100); do
  [ -s "$WORK/dnsmasq.pid" ] && dpid=$(cat "$WORK/dnsmasq.pid") && [ -n "$dpid" ] && break
  sleep 0.1
done
[ -n "$dpid" ] || { echo "FAIL: dnsmasq did not start: $(cat "$WORK/dnsmasq.log" 2>/dev/null)"; exit 1; }
shimmed_as "$dpid" root dnsmasq
tx0=$(tap_bytes tx)
# dig [+tcp] NAME: the answer of the shimmed dnsmasq (bounded: 2 s, one try).
ask() { in_ns timeout 10 dig +short +time=2 +tries=1 "$@" @10.0.0.2 2>&1 || true; }
got=
for _ in $(seq 1 30); do got=$(ask foo.test); [ "$got" = 10.1.2.3 ] && break; sleep 0.1; done
[ "$got" = 10.1.2.3 ] || { echo "FAIL: UDP query: '$got'"; exit 1; }
echo "ok: shimmed dnsmasq -i tap0 answers a UDP query"
got=$(ask +tcp bar.test)
[ "$got" = 10.1.2.4 ] || { echo "FAIL: TCP query: '$got' (dnsmasq closed the connection unanswered?)"; exit 1; }
echo "ok: shimmed dnsmasq -i tap0 answers a TCP query"
for i in 1 2 3; do
  got=$(ask +tcp foo.test)
  [ "$got" = 10.1.2.3 ] || { echo "FAIL: TCP query $i: '$got'"; exit 1; }
done
echo "ok: three more TCP queries answered"
crossed tx 200 "$tx0" "queries to the shimmed dnsmasq"
alive "$dpid" || { echo "FAIL: dnsmasq died: $(cat "$WORK/dnsmasq.log")"; exit 1; }
kill -TERM "$dpid"
for _ in $(seq 1 50); do alive "$dpid" || break; sleep 0.1; done
alive "$dpid" && { echo "FAIL: dnsmasq did not exit on SIGTERM"; exit 1; }
echo "ok: dnsmasq exited on SIGTERM"

got=$(ts 10 ip -4 -o addr show dev tap0 | awk '{ print $4 }')
[ "$got" = 10.0.0.2/24 ] || { echo "FAIL: tapstack ip -4 addr show dev tap0: '$got', want 10.0.0.2/24"; exit 1; }
got=$(in_ns ip -4 -o addr show dev tap0 | awk '{ print $4 }')
[ "$got" = 10.0.0.1/24 ] || { echo "FAIL: kernel ip -4 addr show dev tap0: '$got', want 10.0.0.1/24"; exit 1; }
echo "ok: ip addr shows tapstack's 10.0.0.2/24 on tap0 under the shim, the kernel's 10.0.0.1/24 without"
service_done 20 "after dnsmasq and ip"
