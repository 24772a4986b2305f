#!/usr/bin/env bash
# The TAP's address as programs learn it, when the kernel has no IPv4 address on the TAP:
# - getifaddrs showed no AF_INET entry for tap0 at all under tapstack (the shim only rewrote an
#   existing one); now one is added, with tapstack's address, netmask and broadcast and the
#   link's flags, in its place among the other interfaces, and freeifaddrs frees it (300 rounds).
# - SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFBRDADDR and SIOCGIFDSTADDR on a socket of tapstack
#   failed with ENOTTY for every interface (Linux answers them only on AF_INET sockets; ours
#   are an AF_UNIX pair underneath); SIOCGIFCONF listed the kernel's address or nothing for tap0.
# The reference is the kernel itself with tapstack's configuration on tap0 (10.0.0.2/24,
# broadcast 10.0.0.255): what a Python program reads (ctypes getifaddrs, fcntl.ioctl on UDP and
# TCP sockets, SIOCGIFCONF with room for all, for one entry, and the length alone; tap1 and lo
# beside it; an unknown name: ENODEV) and hostname -I must be the same under tapstack with no
# kernel address on tap0, and with another one (10.0.0.1/24: rewritten, not doubled). Then the
# program binds a UDP socket to the address SIOCGIFADDR gave and sends through tapstack.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
command -v hostname >/dev/null || { echo "FAIL: hostname is not installed (make deps)"; exit 1; }
shim_setup t45
netns_tap "$NS" tap1 10.0.1.1/24   # a second interface, after tap0 by index
cat > "$WORK/ifq.py" <<'PY'
import ctypes, errno, fcntl, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
class sockaddr(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("data", ctypes.c_ubyte * 14)]
class ifaddrs(ctypes.Structure):
    pass
ifaddrs._fields_ = [("next", ctypes.POINTER(ifaddrs)), ("name", ctypes.c_char_p), ("flags", ctypes.c_uint),
                    ("addr", ctypes.POINTER(sockaddr)), ("netmask", ctypes.POINTER(sockaddr)),
                    ("ifu", ctypes.POINTER(sockaddr)), ("data", ctypes.c_void_p)]
def ip(p):
    return socket.inet_ntoa(bytes(p.contents.data[2:6])) if p else None
def entries():
    head = ctypes.POINTER(ifaddrs)()
    if libc.getifaddrs(ctypes.byref(head)) != 0:
        raise OSError(ctypes.get_errno(), "getifaddrs")
    out, p = [], head
    while p:
        e = p.contents
        fam = e.addr.contents.family if e.addr else None
        v4 = fam == socket.AF_INET
        out.append((e.name.decode(), fam, e.flags, ip(e.addr) if v4 else None, ip(e.netmask) if v4 else None,
                    ip(e.ifu) if v4 else None))
        p = e.next
    libc.freeifaddrs(head)
    return out
es = entries()
for i in range(300):
    assert entries() == es, "getifaddrs changed between calls"
links = {n: f for n, fam, f, *_ in es if fam == socket.AF_PACKET}
for n, fam, f, a, m, b in es:
    if fam == socket.AF_INET:
        print("getifaddrs", n, a, m, b, "flags: the link's" if links.get(n) == f else "flags: %#x, the link's %#x" % (f, links.get(n, -1)))
REQ = [("SIOCGIFADDR", 0x8915), ("SIOCGIFNETMASK", 0x891b), ("SIOCGIFBRDADDR", 0x8919), ("SIOCGIFDSTADDR", 0x8917)]
def conf(s, room):
    buf = ctypes.create_string_buffer(max(room, 1))
    got = struct.unpack("iP", fcntl.ioctl(s, 0x8912, struct.pack("iP", room, ctypes.addressof(buf) if room else 0)))[0]
    if not room:
        return got
    return [(buf.raw[i:i + 16].rstrip(b"\0").decode(), socket.inet_ntoa(buf.raw[i + 20:i + 24])) for i in range(0, got, 40)]
for typ, tn in ((socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp")):
    s = socket.socket(socket.AF_INET, typ)
    for name in ("tap0", "tap1", "lo", "nosuch"):
        for rn, r in REQ:
            try:
                res = fcntl.ioctl(s, r, struct.pack("16s24x", name.encode()))
                v = "%s family %d" % (socket.inet_ntoa(res[20:24]), struct.unpack("H", res[16:18])[0])
            except OSError as e:
                v = errno.errorcode[e.errno]
            print("ioctl", tn, name, rn, v)
    need = conf(s, 0)
    print("SIOCGIFCONF", tn, "needs", need, "all", conf(s, need + 400), "one", conf(s, 40), "one and a half", conf(s, 60))
    s.close()
if len(sys.argv) > 1:   # bind to the address SIOCGIFADDR gives for tap0, send from it
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a = socket.inet_ntoa(fcntl.ioctl(s, 0x8915, struct.pack("16s24x", b"tap0"))[20:24])
    s.bind((a, 0))
    s.sendto(b"from " + a.encode(), ("10.0.0.1", 4545))
    print("bound to", a, "and sent")
PY
set_tap0() { ip -n "$NS" addr flush dev tap0; [ -z "${1:-}" ] || ip -n "$NS" addr add "$@" dev tap0; }
report() { "$@" "$PY" "$WORK/ifq.py"; echo "hostname -I: $("$@" hostname -I)"; }

# The reference: the kernel with tapstack's configuration on tap0.
set_tap0 10.0.0.2/24 brd +
report in_ns > "$WORK/kernel.out"
grep -q "^getifaddrs tap0 10.0.0.2 255.255.255.0 10.0.0.255 flags: the link's" "$WORK/kernel.out" \
  && grep -q "^ioctl udp tap0 SIOCGIFBRDADDR 10.0.0.255 family 2" "$WORK/kernel.out" \
  || { echo "FAIL: the kernel's reference is not as expected:"; cat "$WORK/kernel.out"; exit 1; }
echo "ok: the kernel's reference ($(wc -l < "$WORK/kernel.out") lines)"

for kernel_addr in "" 10.0.0.1/24; do
  set_tap0 $kernel_addr
  what="no kernel address on tap0"; [ -z "$kernel_addr" ] || what="the kernel's $kernel_addr on tap0"
  report ts 60 > "$WORK/ts.out" 2> "$WORK/ts.err" || { echo "FAIL: the program under tapstack ($what):"; cat "$WORK/ts.err"; exit 1; }
  diff -u "$WORK/kernel.out" "$WORK/ts.out" > "$WORK/diff" \
    || { echo "FAIL: $what: tapstack's view differs from the reference (- kernel, + tapstack):"; cat "$WORK/diff"; exit 1; }
  echo "ok: $what: getifaddrs, SIOCGIF* and SIOCGIFCONF show tapstack's 10.0.0.2/24 as the reference"
done

# The address SIOCGIFADDR gave is tapstack's own: a socket binds to it and sends through tap0.
set_tap0 10.0.0.1/24
netns_bg "$NS" "$PY" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.0.0.1", 4545)); s.settimeout(20)
d, a = s.recvfrom(100); print(d.decode(), "seen from", a[0], flush=True)' > "$WORK/peer.out"
peer=$NETNS_LAST_PID
netns_wait_udp_port "$NS" 4545
rx0=$(tap_bytes rx)
got=$(ts 30 "$PY" "$WORK/ifq.py" send | tail -n 1)
[ "$got" = "bound to 10.0.0.2 and sent" ] || { echo "FAIL: bind to SIOCGIFADDR's address: '$got'"; exit 1; }
wait "$peer" || true
grep -q "^from 10.0.0.2 seen from 10.0.0.2$" "$WORK/peer.out" || { echo "FAIL: the kernel peer got: $(cat "$WORK/peer.out")"; exit 1; }
crossed rx 40 "$rx0" "the datagram"
echo "ok: a UDP socket bound to SIOCGIFADDR's 10.0.0.2 sends through tapstack"
