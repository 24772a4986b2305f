#!/usr/bin/env bash
# Names resolve through tapstack: dnsmasq on the kernel side serves files.test -> 10.0.0.1 from
# a hosts file; `tapstack curl http://files.test:8000/file` resolves over tapstack UDP (the pcap
# shows the query from 10.0.0.2 to the server) and downloads with sha256 equal. Unknown names
# and a nameserver that never answers give curl's "Could not resolve host" (bounded time).
# Kernel side: TAP tap0 10.0.0.1/24 inside a private namespace. tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/netns-lib.sh"
netns_require_root
LIB=${TAPSTACK_LIB:-$ROOT/target/release/libtapstack_preload.so}
[ -r "$LIB" ] || { echo "FAIL: $LIB is not built (make build)"; exit 1; }
for t in dnsmasq tcpdump curl; do
  command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (make deps)"; exit 1; }
done
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)
WORK=$(mktemp -d)
chmod 755 "$WORK"
NSETC=
trap 'netns_cleanup; rm -rf "$WORK"; [ -n "$NSETC" ] && rm -rf "$NSETC"' EXIT
netns_make NS t70
netns_tap "$NS" tap0 10.0.0.1/24
# `ip netns exec` bind-mounts /etc/netns/<ns>/{resolv.conf,hosts} over /etc: a hermetic
# resolver configuration for everything run in the namespace.
NSETC=/etc/netns/$NS
mkdir -p "$NSETC"
printf 'nameserver 10.0.0.1\noptions timeout:2 attempts:2\n' > "$NSETC/resolv.conf"
printf '127.0.0.1 localhost\n' > "$NSETC/hosts"
in_ns() { ip netns exec "$NS" "$@"; }
ts() { local t=$1; shift; timeout -k 5 "$t" ip netns exec "$NS" env TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 \
        TAPSTACK_GW=10.0.0.1 TAPSTACK_LIB="$LIB" "$@" "$ROOT/scripts/tapstack" "${CMD[@]}"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# Frames the kernel's tap0 received (= sent by tapstack): a step that a non-intercepted program
# could pass on the namespace's kernel stack must also show traffic through tapstack.
tap_rx() { in_ns cat /sys/class/net/tap0/statistics/rx_packets; }
mark() { MARK=$(tap_rx); }
crossed() { local d=$(( $(tap_rx) - MARK )); [ "$d" -ge "$1" ] || { echo "FAIL: $2: only $d frames crossed tap0 (not through tapstack?)"; exit 1; }; }

printf '10.0.0.1 files.test\n10.0.0.1 www.files.test\n' > "$WORK/dns-hosts"
# big.test: 60 addresses, an answer over 512 bytes: dnsmasq truncates (TC) over UDP.
for i in $(seq 1 60); do echo "10.0.1.$i big.test"; done >> "$WORK/dns-hosts"
: > "$WORK/dnsmasq.log"
netns_bg "$NS" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
  --addn-hosts="$WORK/dns-hosts" --local=/test/ -i tap0 --bind-interfaces --listen-address=10.0.0.1 \
  --port=53 --user=root --pid-file="$WORK/dnsmasq.pid" --log-queries --log-facility="$WORK/dnsmasq.log"
for _ in $(seq 1 100); do in_ns ss -Hlun 'sport = :53' | grep -q . && break; sleep 0.1; done
in_ns ss -Hlun 'sport = :53' | grep -q . || { echo "FAIL: dnsmasq did not start"; cat "$WORK/dnsmasq.log"; exit 1; }
# The kernel resolves it (sanity check of the server itself).
in_ns getent ahostsv4 files.test | grep -q 10.0.0.1 || { echo "FAIL: dnsmasq does not answer files.test"; exit 1; }

head -c 2M /dev/urandom > "$WORK/file"
want=$(sha "$WORK/file")
netns_bg "$NS" "$PY" -m http.server --bind 10.0.0.1 --directory "$WORK" 8000
netns_wait_port "$NS" 8000

# 1. Resolution through tapstack UDP (nameserver from resolv.conf), captured to a pcap.
CMD=(curl -sS --max-time 60 -o "$WORK/curl.out" http://files.test:8000/file)
ts 90 env TAPSTACK_PCAP="$WORK/dns.pcap"
got=$(sha "$WORK/curl.out")
[ "$got" = "$want" ] || { echo "FAIL: curl sha256 $got != $want"; exit 1; }
tcpdump -nn -r "$WORK/dns.pcap" 'udp and src host 10.0.0.2 and dst host 10.0.0.1 and dst port 53' 2>/dev/null \
  | tee "$WORK/q.txt" | grep -q 'A? files.test' || { echo "FAIL: no DNS query from 10.0.0.2 in the pcap"; exit 1; }
tcpdump -nn -r "$WORK/dns.pcap" 'udp and src host 10.0.0.1 and src port 53 and dst host 10.0.0.2' 2>/dev/null \
  | grep -q 'A 10.0.0.1' || { echo "FAIL: no DNS answer to 10.0.0.2 in the pcap"; exit 1; }
grep -q 'query\[A\] files.test from 10.0.0.2' "$WORK/dnsmasq.log" || { echo "FAIL: dnsmasq saw no query from 10.0.0.2"; exit 1; }
if grep -q 'AAAA' "$WORK/q.txt"; then echo "FAIL: AAAA query sent (IPv4 only)"; exit 1; fi
echo "ok: curl http://files.test:8000/file resolved over tapstack UDP ($(wc -l < "$WORK/q.txt") query), sha256 equal"

# 1b. wget resolves the same way.
CMD=(wget -q -T 30 -t 1 -O "$WORK/wget.out" http://files.test:8000/file)
mark
ts 90 env
crossed 10 "wget"
[ "$(sha "$WORK/wget.out")" = "$want" ] || { echo "FAIL: wget by name: sha256 differs"; exit 1; }
echo "ok: wget http://files.test:8000/file through tapstack, sha256 equal"

# 2. TAPSTACK_DNS overrides resolv.conf (which now names a dead server); CNAME-free second name.
printf 'nameserver 10.0.0.77\n' > "$NSETC/resolv.conf"
CMD=(curl -sS --max-time 60 -o "$WORK/curl2.out" http://www.files.test:8000/file)
ts 90 env TAPSTACK_DNS=10.0.0.1
[ "$(sha "$WORK/curl2.out")" = "$want" ] || { echo "FAIL: TAPSTACK_DNS download differs"; exit 1; }
echo "ok: TAPSTACK_DNS=10.0.0.1 overrides resolv.conf"
printf 'nameserver 10.0.0.1\noptions timeout:2 attempts:2\n' > "$NSETC/resolv.conf"

# 3. TAPSTACK_HOSTS: a name only in that file never reaches DNS.
printf '10.0.0.1 only-in-hosts.example\n' > "$WORK/hosts"
before=$(grep -c 'query\[' "$WORK/dnsmasq.log" || true)
CMD=(curl -sS --max-time 60 -o "$WORK/curl3.out" http://only-in-hosts.example:8000/file)
ts 90 env TAPSTACK_HOSTS="$WORK/hosts"
[ "$(sha "$WORK/curl3.out")" = "$want" ] || { echo "FAIL: TAPSTACK_HOSTS download differs"; exit 1; }
after=$(grep -c 'query\[' "$WORK/dnsmasq.log" || true)
[ "$before" = "$after" ] || { echo "FAIL: a hosts-file name was sent to DNS"; exit 1; }
echo "ok: TAPSTACK_HOSTS answered without DNS"

# 4. Unknown name: NXDOMAIN -> curl exit 6 "Could not resolve host".
CMD=(curl -sS --max-time 60 -o /dev/null http://nope.test:8000/file)
set +e
ts 90 env 2> "$WORK/err4"; rc=$?
set -e
[ "$rc" = 6 ] && grep -q 'Could not resolve host' "$WORK/err4" || { echo "FAIL: unknown name: rc $rc: $(cat "$WORK/err4")"; exit 1; }
grep -q 'query\[A\] nope.test from 10.0.0.2' "$WORK/dnsmasq.log" || { echo "FAIL: nope.test was not asked over DNS"; exit 1; }
echo "ok: unknown name -> $(cat "$WORK/err4")"

# 5. A nameserver that never answers (no host at 10.0.0.9): the same error after the timeout
#    (2 attempts x 2 s), never a hang.
CMD=(curl -sS --max-time 60 -o /dev/null http://files.test:8000/file)
start=$(date +%s)
set +e
ts 60 env TAPSTACK_DNS=10.0.0.9 2> "$WORK/err5"; rc=$?
set -e
secs=$(( $(date +%s) - start ))
[ "$rc" = 6 ] && grep -q 'Could not resolve host' "$WORK/err5" || { echo "FAIL: silent server: rc $rc: $(cat "$WORK/err5")"; exit 1; }
[ "$secs" -ge 3 ] && [ "$secs" -le 20 ] || { echo "FAIL: silent server: gave up after ${secs}s (want 4 s bounded)"; exit 1; }
echo "ok: silent nameserver -> '$(cat "$WORK/err5")' after ${secs}s"

# 6. Python's getaddrinfo/gethostbyname/getnameinfo through the shim.
CMD=("$PY" -c '
import socket
ai = socket.getaddrinfo("files.test", 8000, socket.AF_INET, socket.SOCK_STREAM)
assert ai[0][4] == ("10.0.0.1", 8000), ai
assert socket.gethostbyname("files.test") == "10.0.0.1"
assert socket.getaddrinfo("10.0.0.1", "http")[0][4] == ("10.0.0.1", 80)
try:
    socket.getaddrinfo("nope.test", 80); raise SystemExit("nope.test resolved")
except socket.gaierror as e:
    assert e.errno == socket.EAI_NONAME, e
print("python ok")
')
mark
ts 60 env | grep -q 'python ok' || { echo "FAIL: python resolver checks"; exit 1; }
crossed 3 "python resolver checks"
echo "ok: python getaddrinfo/gethostbyname through tapstack"

# 7. A truncated (TC) UDP answer is retried over tapstack TCP: all 60 addresses arrive.
CMD=("$PY" -c '
import socket
ai = socket.getaddrinfo("big.test", 80, socket.AF_INET, socket.SOCK_STREAM)
addrs = sorted({a[4][0] for a in ai}, key=socket.inet_aton)
assert addrs == ["10.0.1.%d" % i for i in range(1, 61)], addrs
print("big ok", len(addrs))
')
svc_idle
ts 60 env TAPSTACK_PCAP="$WORK/tc.pcap" | grep -q 'big ok 60' || { echo "FAIL: big.test over TCP"; exit 1; }
tcpdump -nn -r "$WORK/tc.pcap" 'tcp and dst host 10.0.0.1 and dst port 53 and tcp[tcpflags] & tcp-syn != 0' 2>/dev/null \
  | grep -q . || { echo "FAIL: no DNS-over-TCP connection in the pcap"; exit 1; }
tcpdump -nn -r "$WORK/tc.pcap" 'udp and src port 53' 2>/dev/null | grep -q '|' \
  || echo "note: tcpdump did not flag the UDP answer as truncated"
echo "ok: truncated UDP answer retried over tapstack TCP (60 addresses)"

# 8. The getaddrinfo family gives exactly glibc's answers: hints, EAI_* codes, services,
#    numeric forms, hosts file, getnameinfo, gethostbyname(_r), and a DNS name (files.test).
GAI=$ROOT/c-tests/bin/udp_gai
if [ -x "$GAI" ]; then
  in_ns "$GAI" files.test 10.0.0.1 > "$WORK/gai.kernel"
  CMD=("$GAI" files.test 10.0.0.1)
  mark
  ts 60 env > "$WORK/gai.tapstack"
  crossed 3 "udp_gai"
  grep -A1 "^getaddrinfo(files.test\|^getnameinfo(10.0.0.[17]*:80, flags=0x[28]," "$WORK/gai.kernel" || true
  diff "$WORK/gai.kernel" "$WORK/gai.tapstack" || { echo "FAIL: getaddrinfo family differs from glibc (above)"; exit 1; }
  echo "ok: udp_gai: $(wc -l < "$WORK/gai.kernel") lines identical to glibc"
else
  echo "FAIL: $GAI not built (make c-tests)"; exit 1
fi

# 9. Thread safety: 16 threads resolve concurrently through tapstack (each lookup has its own
#    socket and query ID), and every answer is right.
CMD=("$PY" -c '
import socket, concurrent.futures as cf
def one(i):
    name = "files.test" if i % 2 else "www.files.test"
    return [a[4][0] for a in socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)]
with cf.ThreadPoolExecutor(16) as ex:
    res = list(ex.map(one, range(64)))
assert all(r == ["10.0.0.1"] for r in res), res
print("threads ok", len(res))
')
mark
ts 90 env | grep -q 'threads ok 64' || { echo "FAIL: concurrent getaddrinfo"; exit 1; }
crossed 64 "concurrent getaddrinfo"
echo "ok: 64 concurrent lookups on 16 threads"

# 10. A loopback nameserver (like systemd-resolved's 127.0.0.53) cannot be reached through the
#     TAP: the resolver asks it over a kernel socket instead, and the answer is still used.
in_ns ip addr add 127.0.0.53/8 dev lo 2>/dev/null || true
netns_bg "$NS" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
  --addn-hosts="$WORK/dns-hosts" --local=/test/ --bind-interfaces --listen-address=127.0.0.53 \
  --port=53 --user=root --pid-file="$WORK/dnsmasq-lo.pid" --log-queries --log-facility="$WORK/dnsmasq-lo.log"
for _ in $(seq 1 100); do in_ns ss -Hlun 'src 127.0.0.53 and sport = :53' | grep -q . && break; sleep 0.1; done
printf 'nameserver 127.0.0.53\noptions timeout:2 attempts:2\n' > "$NSETC/resolv.conf"
CMD=(curl -sS --max-time 60 -o "$WORK/curl10.out" http://files.test:8000/file)
mark
ts 90 env
crossed 10 "curl with a loopback nameserver"
[ "$(sha "$WORK/curl10.out")" = "$want" ] || { echo "FAIL: loopback nameserver: download differs"; exit 1; }
grep -q 'query\[A\] files.test from 127.0.0.1' "$WORK/dnsmasq-lo.log" || { echo "FAIL: the loopback server saw no query"; exit 1; }
echo "ok: loopback nameserver 127.0.0.53 asked over a kernel socket; curl by name works"
