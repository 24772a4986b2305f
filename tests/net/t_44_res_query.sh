#!/usr/bin/env bash
# libc's raw DNS calls (resolver(3): res_query, res_search, res_querydomain, res_send,
# res_nsearch), which mail servers, Kerberos and OpenSSH's SSHFP use, go through tapstack:
# glibc makes their socket calls inside libc, where LD_PRELOAD cannot see them, so they used
# the kernel's stack unseen. `c-tests/bin/res_client` asks a dnsmasq on the kernel side for MX,
# TXT, SRV and A records, a search-list name, an unknown name (HOST_NOT_FOUND), a name without
# the type asked (NO_DATA), res_send of queries made by res_mkquery, and a response cut to a
# 20-byte buffer, gethostbyaddr(_r) of a name and of an address without one (whose PTR
# lookups glibc makes inside libc too), and getaddrinfo_a (GAI_WAIT; GAI_NOWAIT with
# gai_suspend and a SIGEV_THREAD notification; gai_cancel): its output under tapstack is the kernel's, dnsmasq saw every query
# come from 10.0.0.2, and the TAP counters moved. Then with a dead nameserver in resolv.conf
# and the live one set in the program's resolver state (_res.nsaddr_list): the state's server
# answers, under both stacks.
# Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
need_cmd dnsmasq dnsmasq
make -s -C "$ROOT/c-tests" || { echo "FAIL: c-tests do not build"; exit 1; }
CLI=$ROOT/c-tests/bin/res_client
shim_setup t44
chmod 755 "$WORK"
NSETC=/etc/netns/$NS
mkdir -p "$NSETC"
trap 'ns_kill_all; netns_cleanup; rm -rf "$WORK" "$NSETC"' EXIT
printf 'nameserver 10.0.0.1\nsearch test\noptions timeout:2 attempts:2\n' > "$NSETC/resolv.conf"
printf '127.0.0.1 localhost\n' > "$NSETC/hosts"
printf '10.0.0.7 seven.test\n10.0.0.8 mail.test\n' > "$WORK/dns-hosts"
: > "$WORK/dnsmasq.log"
netns_bg "$NS" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
  --addn-hosts="$WORK/dns-hosts" --local=/test/ -i tap0 --bind-interfaces --listen-address=10.0.0.1 \
  --mx-host=mx.test,mail.test,10 --txt-record=txt.test,"hello from dnsmasq" \
  --srv-host=_ldap._tcp.test,ldap.test,389,1,2 \
  --port=53 --user=root --pid-file="$WORK/dnsmasq.pid" --log-queries --log-facility="$WORK/dnsmasq.log"
for _ in $(seq 1 100); do in_ns ss -Hlun 'sport = :53' | grep -q . && break; sleep 0.1; done

in_ns "$CLI" > "$WORK/kernel.out" 2>&1 || { echo "FAIL: res_client on the kernel's stack:"; cat "$WORK/kernel.out"; exit 1; }
grep -q 'res_query mx.test MX: rcode 0 answers 1 MX 10 mail.test' "$WORK/kernel.out" \
  || { echo "FAIL: the kernel reference is not as expected (dnsmasq?):"; cat "$WORK/kernel.out"; exit 1; }
n0=$(grep -c 'from 10.0.0.2' "$WORK/dnsmasq.log" || true)
rx0=$(tap_bytes rx)
ts 60 "$CLI" > "$WORK/ts.out" 2>&1 || { echo "FAIL: res_client through tapstack:"; cat "$WORK/ts.out"; exit 1; }
diff "$WORK/kernel.out" "$WORK/ts.out" > "$WORK/diff" || { echo "FAIL: res_client differs from the kernel's (< kernel, > tapstack):"; cat "$WORK/diff"; exit 1; }
n1=$(grep -c 'from 10.0.0.2' "$WORK/dnsmasq.log" || true)
[ $((n1 - n0)) -ge 14 ] || { echo "FAIL: dnsmasq saw $((n1 - n0)) queries from 10.0.0.2, expected >= 14"; exit 1; }
grep -q "query\[PTR\] 7.0.0.10.in-addr.arpa from 10.0.0.2" "$WORK/dnsmasq.log" || { echo "FAIL: no PTR query from 10.0.0.2"; exit 1; }
crossed rx 600 "$rx0" "res_client's queries"
sed 's/^/   /' "$WORK/ts.out"
echo "ok: res_query, res_search, res_querydomain, res_send, res_nsearch, gethostbyaddr(_r), getaddrinfo_a through tapstack, as the kernel's ($((n1 - n0)) queries from 10.0.0.2)"

# The program's own nameserver, set in its resolver state: resolv.conf names a dead one.
printf 'nameserver 10.0.0.9\nsearch test\noptions timeout:1 attempts:1\n' > "$NSETC/resolv.conf"
in_ns "$CLI" state > "$WORK/kernel2.out" 2>&1 || true
ts 30 "$CLI" state > "$WORK/ts2.out" 2>&1 || true
want='state res_query txt.test TXT: rcode 0 answers 1 TXT "hello from dnsmasq"'
[ "$(cat "$WORK/kernel2.out")" = "$want" ] || { echo "FAIL: kernel reference with _res.nsaddr_list: $(cat "$WORK/kernel2.out")"; exit 1; }
[ "$(cat "$WORK/ts2.out")" = "$want" ] || { echo "FAIL: tapstack with _res.nsaddr_list: $(cat "$WORK/ts2.out")"; exit 1; }
echo "ok: the nameserver set in _res.nsaddr_list is the one asked, as on the kernel's stack"
echo "PASS"
