#!/usr/bin/env bash
# bind9's dig and host shimmed (issue 10: libuv sends and receives UDP with
# syscall(__NR_sendmmsg/__NR_recvmmsg), which must not hand our descriptor to the kernel):
# `dig @10.0.0.1 NAME` over UDP and `host NAME 10.0.0.1` get their answers from a dnsmasq on the
# kernel side, and dnsmasq saw the queries come from 10.0.0.2 (through tap0).
# Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
for t in dig host dnsmasq; do command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (make deps)"; exit 1; }; done
shim_setup t88
chmod 755 "$WORK"
NSETC=/etc/netns/$NS
mkdir -p "$NSETC"
trap 'ns_kill_all; netns_cleanup; rm -rf "$WORK" "$NSETC"' EXIT
# A hermetic resolver configuration for everything in the namespace (ip netns exec bind-mounts it).
printf 'nameserver 10.0.0.1\noptions timeout:2 attempts:2\n' > "$NSETC/resolv.conf"
printf '127.0.0.1 localhost\n' > "$NSETC/hosts"
printf '10.0.0.1 files.test\n10.0.0.7 seven.test\n' > "$WORK/dns-hosts"
: > "$WORK/dnsmasq.log"
netns_bg "$NS" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
  --addn-hosts="$WORK/dns-hosts" --local=/test/ -i tap0 --bind-interfaces --listen-address=10.0.0.1 \
  --port=53 --user=root --pid-file="$WORK/dnsmasq.pid" --log-queries --log-facility="$WORK/dnsmasq.log"
for _ in $(seq 1 100); do in_ns ss -Hlun 'sport = :53' | grep -q . && break; sleep 0.1; done
in_ns dig +short +tries=1 +time=2 @10.0.0.1 files.test | grep -qx 10.0.0.1 || { echo "FAIL: dnsmasq does not answer (kernel dig)"; exit 1; }

# 1. dig over UDP (dig's default), answered through tapstack.
n0=$(grep -c 'from 10.0.0.2' "$WORK/dnsmasq.log" || true)
rx0=$(tap_bytes rx)
out=$(ts 30 dig +tries=1 +time=5 @10.0.0.1 seven.test A 2>&1) || true
grep -Eq '^seven\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A[[:space:]]+10\.0\.0\.7$' <<<"$out" \
  || { echo "FAIL: shimmed dig @10.0.0.1 seven.test:"; echo "$out"; exit 1; }
grep -q ';; SERVER: 10.0.0.1#53(10.0.0.1) (UDP)' <<<"$out" || { echo "FAIL: dig did not ask over UDP:"; echo "$out" | tail -5; exit 1; }
grep -q 'query\[A\] seven.test from 10.0.0.2' "$WORK/dnsmasq.log" || { echo "FAIL: dnsmasq saw no query from 10.0.0.2"; exit 1; }
crossed rx 60 "$rx0" "dig query"
echo "ok: shimmed dig @10.0.0.1 seven.test (UDP) answered 10.0.0.7 through tapstack"

# 2. host NAME SERVER (A, AAAA and MX queries over UDP).
rx0=$(tap_bytes rx)
out=$(ts 30 host -W 5 files.test 10.0.0.1 2>&1) || true
grep -qx 'files.test has address 10.0.0.1' <<<"$out" || { echo "FAIL: shimmed host files.test 10.0.0.1:"; echo "$out"; exit 1; }
grep -q 'query\[A\] files.test from 10.0.0.2' "$WORK/dnsmasq.log" || { echo "FAIL: dnsmasq saw no query for files.test from 10.0.0.2"; exit 1; }
crossed rx 60 "$rx0" "host queries"
n1=$(grep -c 'from 10.0.0.2' "$WORK/dnsmasq.log" || true)
grep 'from 10.0.0.' "$WORK/dnsmasq.log" | grep -v 'from 10.0.0.2' | grep -v 'from 10.0.0.1' && { echo "FAIL: queries from elsewhere"; exit 1; }
echo "ok: shimmed host files.test 10.0.0.1 answered through tapstack ($((n1 - n0)) queries from 10.0.0.2)"

# 3. An unknown name: NXDOMAIN is an answer too (status in dig's header), not a timeout.
out=$(ts 30 dig +tries=1 +time=5 @10.0.0.1 nope.test A 2>&1) || true
grep -q 'status: NXDOMAIN' <<<"$out" || { echo "FAIL: dig nope.test:"; echo "$out"; exit 1; }
echo "ok: shimmed dig gets NXDOMAIN for an unknown name"
