# Dual-stack errno table: raw sockaddr buffers through libc's bind/connect/sendto (ctypes, so
# the shim's hooks see exactly these bytes). One line per case: "case: result".
import ctypes, ctypes.util, errno, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
AF_INET, AF_INET6 = 2, 10
def sin(fam, port, a):
    return struct.pack("=H", fam) + struct.pack("!H", port) + socket.inet_aton(a) + b"\0" * 8
def sin6(fam, port, a, scope=0):
    return struct.pack("=H", fam) + struct.pack("!H", port) + b"\0\0\0\0" + socket.inet_pton(AF_INET6, a) + struct.pack("=I", scope)
def name(r):
    if r >= 0: return "ok"
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
def call(fn, fd, buf, ln, *pre):
    if buf is None:
        p = None
    else:
        b = ctypes.create_string_buffer(buf + b"\0" * 8, max(len(buf), 1) + 8)
        p = b
    ctypes.set_errno(0)
    if fn == "sendto":
        r = libc.sendto(fd, b"x", 1, 0x40, p, ln)
    else:
        r = getattr(libc, fn)(fd, p, ln)
    return name(r)
def sock(fam, ty, v6only=None):
    s = socket.socket(fam, ty)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    return s
M = "::ffff:10.0.0.2"; MR = "::ffff:10.0.0.1"
cases = []
for ty, tn in ((socket.SOCK_STREAM, "tcp"), (socket.SOCK_DGRAM, "udp")):
    for v6o in (0, 1):
        pre = f"v6 {tn} v6only={v6o}"
        bind = [
            ("null len0", None, 0), ("null len28", None, 28), ("len129", sin6(AF_INET6, 0, "::"), 129),
            ("len1", sin6(AF_INET6, 0, "::"), 1), ("len2 inet6", sin6(AF_INET6, 0, "::"), 2),
            ("len23 inet6", sin6(AF_INET6, 0, "::"), 23), ("len24 any", sin6(AF_INET6, 0, "::"), 24),
            ("inet len16", sin(AF_INET, 0, "10.0.0.2"), 16), ("inet len28", sin(AF_INET, 0, "10.0.0.2") + b"\0" * 12, 28),
            ("unspec len28", sin6(0, 0, "::"), 28), ("fam99 len28", sin6(99, 0, "::"), 28),
            ("any", sin6(AF_INET6, 0, "::"), 28), ("mapped own", sin6(AF_INET6, 0, M), 28),
            ("mapped other", sin6(AF_INET6, 0, "::ffff:10.0.0.9"), 28), ("mapped any", sin6(AF_INET6, 0, "::ffff:0.0.0.0"), 28),
            ("native", sin6(AF_INET6, 0, "2001:db8::1"), 28), ("loopback6", sin6(AF_INET6, 0, "::1"), 28),
            ("linklocal noscope", sin6(AF_INET6, 0, "fe80::1"), 28), ("multicast", sin6(AF_INET6, 0, "ff02::1"), 28), ("gmulticast", sin6(AF_INET6, 0, "ff0e::1"), 28),
            ("linklocal scope1", sin6(AF_INET6, 0, "fe80::1", 1), 28), ("linklocal scope99", sin6(AF_INET6, 0, "fe80::1", 99), 28),
            ("mapped 127.0.0.1", sin6(AF_INET6, 0, "::ffff:127.0.0.1"), 28),
        ]
        for d, b, l in bind:
            s = sock(AF_INET6, ty, v6o)
            cases.append((f"{pre} bind {d}", call("bind", s.fileno(), b, l))); s.close()
        # a second bind
        s = sock(AF_INET6, ty, v6o); call("bind", s.fileno(), sin6(AF_INET6, 0, "::"), 28)
        cases.append((f"{pre} bind twice", call("bind", s.fileno(), sin6(AF_INET6, 0, "::"), 28))); s.close()
        conn = [
            ("len0", sin6(AF_INET6, 53, "::"), 0), ("len1", sin6(AF_INET6, 53, "::"), 1), ("null len28", None, 28),
            ("len23 inet6", sin6(AF_INET6, 53, MR), 23), ("inet len8", sin(AF_INET, 53, "10.0.0.1"), 8),
            ("fam99 len28", sin6(99, 53, MR), 28),
            ("native", sin6(AF_INET6, 53, "2001:db8::1"), 28), ("multicast", sin6(AF_INET6, 53, "ff02::1"), 28), ("gmulticast", sin6(AF_INET6, 53, "ff0e::1"), 28),
            ("linklocal scope1", sin6(AF_INET6, 53, "fe80::1", 1), 28), ("linklocal scope99", sin6(AF_INET6, 53, "fe80::1", 99), 28),
            ("linklocal noscope", sin6(AF_INET6, 53, "fe80::1"), 28),
        ]
        if ty == socket.SOCK_DGRAM:
            conn += [("inet len16", sin(AF_INET, 53, "10.0.0.1"), 16), ("mapped", sin6(AF_INET6, 53, MR), 28),
                     ("unspec len2", sin6(0, 0, "::"), 2)]
        else:
            conn += [("inet len16", sin(AF_INET, 53, "10.0.0.1"), 16)]
            if v6o:
                conn += [("mapped", sin6(AF_INET6, 53, MR), 28)]
        for d, b, l in conn:
            s = sock(AF_INET6, ty, v6o)
            cases.append((f"{pre} connect {d}", call("connect", s.fileno(), b, l))); s.close()
        if ty == socket.SOCK_DGRAM:
            snd = [
                ("null len0", None, 0), ("len0", sin6(AF_INET6, 53, MR), 0), ("len1", sin6(AF_INET6, 53, MR), 1),
                ("len129", sin6(AF_INET6, 53, MR), 129), ("len23 inet6", sin6(AF_INET6, 53, MR), 23),
                ("inet len8", sin(AF_INET, 53, "10.0.0.1"), 8), ("inet len16", sin(AF_INET, 53, "10.0.0.1"), 16),
                ("unspec len28", sin6(0, 53, MR), 28), ("fam99 len28", sin6(99, 53, MR), 28),
                ("native", sin6(AF_INET6, 53, "2001:db8::1"), 28), ("mapped", sin6(AF_INET6, 53, MR), 28),
                ("multicast", sin6(AF_INET6, 53, "ff02::1"), 28), ("gmulticast", sin6(AF_INET6, 53, "ff0e::1"), 28),
                ("linklocal noscope", sin6(AF_INET6, 53, "fe80::1"), 28), ("linklocal scope1", sin6(AF_INET6, 53, "fe80::1", 1), 28),
                ("inet6 len24", sin6(AF_INET6, 53, MR), 24),
            ]
            for d, b, l in snd:
                s = sock(AF_INET6, ty, v6o)
                cases.append((f"{pre} sendto {d}", call("sendto", s.fileno(), b, l))); s.close()
for ty, tn in ((socket.SOCK_STREAM, "tcp"), (socket.SOCK_DGRAM, "udp")):
    pre = f"v4 {tn}"
    for d, b, l in [("len0", None, 0), ("len1", sin(AF_INET, 0, "0.0.0.0"), 1), ("inet6 len8", sin6(AF_INET6, 0, "::"), 8),
                    ("inet6 len28", sin6(AF_INET6, 0, "::"), 28), ("unspec any", sin(0, 0, "0.0.0.0"), 16),
                    ("unspec own", sin(0, 0, "10.0.0.2"), 16), ("fam99 len16", sin(99, 0, "0.0.0.0"), 16), ("len15", sin(AF_INET, 0, "0.0.0.0"), 15)]:
        s = sock(AF_INET, ty)
        cases.append((f"{pre} bind {d}", call("bind", s.fileno(), b, l))); s.close()
    for d, b, l in [("len1", sin(AF_INET, 53, "10.0.0.1"), 1), ("inet len8", sin(AF_INET, 53, "10.0.0.1"), 8),
                    ("inet6 len28", sin6(AF_INET6, 53, MR), 28), ("fam99 len16", sin(99, 53, "10.0.0.1"), 16)]:
        s = sock(AF_INET, ty)
        cases.append((f"{pre} connect {d}", call("connect", s.fileno(), b, l))); s.close()
    if ty == socket.SOCK_DGRAM:
        for d, b, l in [("len1", sin(AF_INET, 53, "10.0.0.1"), 1), ("len8", sin(AF_INET, 53, "10.0.0.1"), 8),
                        ("inet6 len28", sin6(AF_INET6, 53, MR), 28), ("unspec len16", sin(0, 53, "10.0.0.1"), 16),
                        ("fam99 len16", sin(99, 53, "10.0.0.1"), 16), ("len129", sin(AF_INET, 53, "10.0.0.1"), 129)]:
            s = sock(AF_INET, ty)
            cases.append((f"{pre} sendto {d}", call("sendto", s.fileno(), b, l))); s.close()
# setsockopt IPV6_V6ONLY after bind; on an AF_INET socket.
s = sock(AF_INET6, socket.SOCK_STREAM); s.bind(("::", 0))
ctypes.set_errno(0); v = ctypes.c_int(1)
cases.append(("v6 setsockopt V6ONLY after bind", name(libc.setsockopt(s.fileno(), 41, 26, ctypes.byref(v), 4)))); s.close()
s = sock(AF_INET6, socket.SOCK_STREAM); ctypes.set_errno(0)
cases.append(("v6 setsockopt V6ONLY len2", name(libc.setsockopt(s.fileno(), 41, 26, ctypes.byref(v), 2))))
cases.append(("v6 getsockopt V6ONLY default", str(s.getsockopt(41, 26))))
s.close()
s = sock(AF_INET, socket.SOCK_STREAM); ctypes.set_errno(0)
cases.append(("v4 setsockopt V6ONLY", name(libc.setsockopt(s.fileno(), 41, 26, ctypes.byref(v), 4))))
ln = ctypes.c_uint(4); ctypes.set_errno(0)
cases.append(("v4 getsockopt V6ONLY", name(libc.getsockopt(s.fileno(), 41, 26, ctypes.byref(v), ctypes.byref(ln)))))
s.close()
# getsockname truncation on an AF_INET6 socket bound to ::ffff:10.0.0.2:4321.
for want in (0, 2, 4, 8, 27, 28, 100, -1):
    s = sock(AF_INET6, socket.SOCK_DGRAM); s.bind((M, 4321))
    buf = ctypes.create_string_buffer(b"\xee" * 128, 128); ln = ctypes.c_int(want); ctypes.set_errno(0)
    r = name(libc.getsockname(s.fileno(), buf, ctypes.byref(ln)))
    cases.append((f"v6 getsockname len{want}", f"{r} len={ln.value} bytes={buf.raw[:30].hex()}")); s.close()
def names(desc, fn):
    try:
        cases.append((desc, repr(fn())))
    except OSError as e:
        cases.append((desc, errno.errorcode.get(e.errno, str(e.errno))))
def unbound():
    with sock(AF_INET6, socket.SOCK_STREAM) as s: return s.getsockname()
def bound_any():
    with sock(AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::", 4322)); a = s.getsockname(); s.connect((MR, 53)); return a, s.getsockname(), s.getpeername()
def bound(a, p, v6only=None):
    def f():
        with sock(AF_INET6, socket.SOCK_DGRAM, v6only) as s: s.bind((a, p)); return s.getsockname()
    return f
names("v6 getsockname unbound", unbound)
names("v6 udp names any/connected", bound_any)
names("v6 getsockname mapped any", bound("::ffff:0.0.0.0", 4323))
names("v6 getsockname v6only any", bound("::", 4325, 1))
names("v6 getsockname loopback6", bound("::1", 4324))
for c, r in cases:
    print(f"{c}: {r}")
