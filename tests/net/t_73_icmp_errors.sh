#!/usr/bin/env bash
# Issue 11 item 10: ICMP errors reach sockets. A router namespace (kernel, forwarding) between
# tapstack and a target namespace:
#   tapstack 10.0.0.2 --tap0-- 10.0.0.1 [NS, router] 10.0.1.1 --veth-- 10.0.1.2 [NS2, target]
# 1. `tapstack traceroute -n` (UDP probes, IP_RECVERR + recvmsg(MSG_ERRQUEUE)) prints the hop
#    addresses: the router's time exceeded and the target's port unreachable, read from the
#    error queue with the offender's address (before: only `*`).
# 2. UDP with IP_RECVERR, two port unreachables: poll's POLLERR, the pending error on recv, each
#    queue entry (payload, destination, sock_extended_err, offender) and the pending error
#    re-armed by a dequeue: the same script run by the kernel (from the router namespace)
#    prints the same.
# 3. TCP with IP_RECVERR: a connect the router answers with host unreachable fails with
#    EHOSTUNREACH and leaves that error in the queue, offender the router.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t73
netns_deadline 120
command -v traceroute >/dev/null || { echo "FAIL: traceroute is not installed (scripts/install-deps.sh)"; exit 1; }
# The router (no ICMP rate limit in it or the target: three probes per hop arrive at once).
router_setup t73b

# 1. traceroute through two hops, and to the router itself.
rx_before=$(tap_bytes rx)
ts 60 traceroute -n -w 2 -q 3 -m 5 10.0.1.2 > "$WORK/tr" 2>&1 || true
cat "$WORK/tr"
grep -Eq '^ *1 +10\.0\.0\.1 ' "$WORK/tr" || { echo "FAIL: hop 1 is not 10.0.0.1"; exit 1; }
grep -Eq '^ *2 +10\.0\.1\.2 ' "$WORK/tr" || { echo "FAIL: hop 2 is not 10.0.1.2"; exit 1; }
! grep -Eq '^ *3 ' "$WORK/tr" || { echo "FAIL: traceroute went past the target"; exit 1; }
! grep -q '\*' "$WORK/tr" || { echo "FAIL: unanswered probes"; exit 1; }
crossed rx 500 "$rx_before" "traceroute probes"
ts 30 traceroute -n -w 2 -q 1 10.0.0.1 > "$WORK/tr1" 2>&1 || true
cat "$WORK/tr1"
grep -Eq '^ *1 +10\.0\.0\.1 +[0-9.]+ ms *$' "$WORK/tr1" || { echo "FAIL: traceroute to 10.0.0.1"; exit 1; }
echo "ok: traceroute prints the hops (router's time exceeded, target's port unreachable)"

# 2. UDP error queue, compared with the kernel's.
cat >"$WORK/udperr.py" <<'PY'
import socket, struct, errno, select, time
IP_RECVERR, MSG_ERRQUEUE = 11, 0x2000  # linux/in.h, linux/socket.h (not in every Python)
def name(e): return errno.errorcode.get(e, str(e))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
s.setblocking(False)
p = select.poll(); p.register(s, select.POLLIN)
def wait():
    ev = p.poll(2000)
    print("poll:", [("POLLERR" if e & select.POLLERR else "") + ("POLLIN" if e & select.POLLIN else "") for _, e in ev])
def recv():
    try:
        d, a = s.recvfrom(100); print("recv:", d, a)
    except OSError as e:
        print("recv:", name(e.errno))
def errq():
    try:
        data, anc, flags, addr = s.recvmsg(100, 512, MSG_ERRQUEUE)
    except OSError as e:
        print("errqueue:", name(e.errno)); return
    for lvl, typ, d in anc:
        ee_errno, origin, t, code, pad, info, dat = struct.unpack("=IBBBBII", d[:16])
        print("errqueue:", data, addr, name(ee_errno), "origin", origin, "type", t, "code", code,
              "offender", socket.inet_ntoa(d[20:24]), lvl == socket.IPPROTO_IP and typ == IP_RECVERR,
              "MSG_ERRQUEUE", flags & MSG_ERRQUEUE != 0)
s.sendto(b"probe-9", ("10.0.1.2", 9)); wait(); recv()
s.sendto(b"probe-13", ("10.0.1.2", 13)); wait(); time.sleep(0.2)
errq(); recv(); errq(); errq(); recv()
PY
in_ns "$PY" "$WORK/udperr.py" > "$WORK/udperr.kernel"
ts 30 "$PY" "$WORK/udperr.py" > "$WORK/udperr.ts"
cat "$WORK/udperr.ts"
grep -q "errqueue: b'probe-13'.*offender 10.0.1.2" "$WORK/udperr.kernel" || {
  cat "$WORK/udperr.kernel"; echo "FAIL: the kernel's reference run"; exit 1; }
diff "$WORK/udperr.kernel" "$WORK/udperr.ts" || { echo "FAIL: UDP error queue differs from the kernel's"; exit 1; }
echo "ok: UDP error queue and pending errors as the kernel's"

# 3. TCP: the router cannot reach 10.0.1.99 (no ARP answer) and says so with host unreachable.
cat >"$WORK/tcperr.py" <<'PY'
import socket, struct, errno
IP_RECVERR, MSG_ERRQUEUE = 11, 0x2000
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
print("IP_RECVERR", s.getsockopt(socket.IPPROTO_IP, IP_RECVERR))
s.settimeout(20)
try:
    s.connect(("10.0.1.99", 80)); print("connected?!")
except OSError as e:
    print("connect:", errno.errorcode.get(e.errno, e.errno))
s.setblocking(False)
data, anc, flags, addr = s.recvmsg(512, 512, MSG_ERRQUEUE)
for lvl, typ, d in anc:
    ee_errno, origin, t, code, pad, info, dat = struct.unpack("=IBBBBII", d[:16])
    print("entry:", errno.errorcode[ee_errno], "origin", origin, "type", t, "code", code,
          "offender", socket.inet_ntoa(d[20:24]), "dst", addr, "MSG_ERRQUEUE", flags & MSG_ERRQUEUE != 0)
try:
    s.recvmsg(512, 512, MSG_ERRQUEUE); print("second entry?!")
except BlockingIOError:
    print("then: EAGAIN")
PY
ts 40 "$PY" "$WORK/tcperr.py" > "$WORK/tcperr" 2>&1 || true
cat "$WORK/tcperr"
cat > "$WORK/tcperr.want" <<'TXT'
IP_RECVERR 1
connect: EHOSTUNREACH
entry: EHOSTUNREACH origin 2 type 3 code 1 offender 10.0.0.1 dst ('10.0.1.99', 80) MSG_ERRQUEUE True
then: EAGAIN
TXT
diff "$WORK/tcperr.want" "$WORK/tcperr" || { echo "FAIL: TCP error queue"; exit 1; }
echo "ok: TCP error queue holds the router's host unreachable"
