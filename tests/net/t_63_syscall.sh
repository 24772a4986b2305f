#!/usr/bin/env bash
# Calls made through libc's syscall() (issue 10): libuv sends and receives UDP with
# syscall(__NR_sendmmsg/__NR_recvmmsg), so bind9's dig, host and nslookup need the shim's
# syscall() hook. Shimmed, each gets its answer from a dnsmasq on the kernel side, the query
# comes from 10.0.0.2 (tapstack; the kernel here owns only 10.0.0.1) and crosses the TAP.
# Then python ctypes calls syscall() directly: socket/sendto/recvfrom on a tapstack socket,
# and calls that are not ours (getpid, close of a bad descriptor) keep their kernel results.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
for t in dnsmasq dig host nslookup; do
  command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (make deps)"; exit 1; }
done
shim_setup t63
printf '10.0.0.1 files.test\n10.0.0.7 seven.test\n' > "$WORK/dns-hosts"
: > "$WORK/dnsmasq.log"
netns_bg "$NS" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
  --addn-hosts="$WORK/dns-hosts" --local=/test/ -i tap0 --bind-interfaces --listen-address=10.0.0.1 \
  --port=53 --user=root --pid-file="$WORK/dnsmasq.pid" --log-queries --log-facility="$WORK/dnsmasq.log"
for _ in $(seq 1 100); do in_ns ss -Hlun 'sport = :53' | grep -q . && break; sleep 0.1; done
in_ns ss -Hlun 'sport = :53' | grep -q . || { echo "FAIL: dnsmasq did not start"; exit 1; }
queries() { grep -c "query\[A\] $1 from 10.0.0.2" "$WORK/dnsmasq.log" || true; }

before=$(tap_bytes rx)
out=$(ts 30 dig +time=3 +tries=1 +short @10.0.0.1 files.test)
[ "$out" = "10.0.0.1" ] || { echo "FAIL: dig (UDP) answered '$out'"; exit 1; }
[ "$(queries files.test)" -ge 1 ] || { echo "FAIL: dnsmasq saw no query from 10.0.0.2"; exit 1; }
crossed rx 60 "$before" "dig"
echo "ok: shimmed dig @10.0.0.1 files.test (UDP) -> $out"

before=$(tap_bytes rx)
out=$(ts 30 host -W 3 seven.test 10.0.0.1)
grep -q 'seven.test has address 10.0.0.7' <<<"$out" || { echo "FAIL: host: $out"; exit 1; }
[ "$(queries seven.test)" -ge 1 ] || { echo "FAIL: dnsmasq saw no query for seven.test from 10.0.0.2"; exit 1; }
crossed rx 60 "$before" "host"
echo "ok: shimmed host seven.test 10.0.0.1"

n0=$(queries files.test)
out=$(ts 30 nslookup -timeout=3 files.test 10.0.0.1)
grep -q 'Address: 10.0.0.1$' <<<"$out" || { echo "FAIL: nslookup: $out"; exit 1; }
[ "$(queries files.test)" -gt "$n0" ] || { echo "FAIL: nslookup's query did not come from 10.0.0.2"; exit 1; }
echo "ok: shimmed nslookup files.test 10.0.0.1"

# syscall() straight from a program.
netns_bg "$NS" "$PY" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.0.0.1", 9063))
d, a = s.recvfrom(100); s.sendto(b"re:" + d + (" from %s" % a[0]).encode(), a)'
netns_wait_udp_port "$NS" 9063
before=$(tap_bytes rx)
ts 30 "$PY" -c '
import ctypes, errno, os, socket, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_getpid, SYS_close, SYS_socket, SYS_sendto, SYS_recvfrom, SYS_getsockopt = 39, 3, 41, 44, 45, 55
assert libc.syscall(SYS_getpid) == os.getpid()
ctypes.set_errno(0)
assert libc.syscall(SYS_close, 1000000) == -1 and ctypes.get_errno() == errno.EBADF
fd = libc.syscall(SYS_socket, socket.AF_INET, socket.SOCK_DGRAM, 0)
assert fd >= 0
dom = ctypes.c_int(0); ln = ctypes.c_uint(4)
assert libc.syscall(SYS_getsockopt, fd, socket.SOL_SOCKET, socket.SO_DOMAIN, ctypes.byref(dom), ctypes.byref(ln)) == 0
assert dom.value == socket.AF_INET
to = struct.pack("=H", socket.AF_INET) + struct.pack("!H", 9063) + socket.inet_aton("10.0.0.1") + b"\0" * 8
msg = b"via syscall"
assert libc.syscall(SYS_sendto, fd, msg, len(msg), 0, to, 16) == len(msg)
buf = ctypes.create_string_buffer(100); frm = ctypes.create_string_buffer(16); fl = ctypes.c_uint(16)
n = libc.syscall(SYS_recvfrom, fd, buf, 100, 0, frm, ctypes.byref(fl))
assert buf.raw[:n] == b"re:via syscall from 10.0.0.2", buf.raw[:n]
assert fl.value == 16 and socket.inet_ntoa(frm.raw[4:8]) == "10.0.0.1"
ctypes.set_errno(0)
assert libc.syscall(SYS_recvfrom, fd, buf, 100, socket.MSG_DONTWAIT, None, None) == -1 and ctypes.get_errno() == errno.EAGAIN
assert libc.syscall(SYS_close, fd) == 0
print("syscall ok")' | grep -q "syscall ok" || { echo "FAIL: python syscall() checks"; exit 1; }
crossed rx 40 "$before" "syscall(SYS_sendto)"
echo "ok: syscall(SYS_socket/sendto/recvfrom/getsockopt/close) on a tapstack socket; others pass through"
