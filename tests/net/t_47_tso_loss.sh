#!/usr/bin/env bash
# TSO under real loss: tapstack hands the TAP super-segments (virtio_net_hdr GSO, up to 44 MSS)
# and nftables inside the namespace drops 3% of them at tap0's ingress (a whole super-segment:
# a burst of lost segments) and 3% of the kernel's segments to tapstack at tap0's egress (lost
# ACKs and data: SACK blocks both ways). TAPSTACK_FAULTS would turn TSO off, hence the kernel
# side drops (never netem). Checked, 4 MiB each way: a sendall then shutdown(SHUT_WR) (the FIN
# on the last super-segment; the server answers the SHA-256 it read), a sendall then close()
# right away (the server writes what it read), and an echo (tapstack sends and receives at once);
# every byte intact, nftables dropped in both directions, tapstack retransmitted (TCP_INFO) and
# ip.tso_out > 0 (TSO was on).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
need_cmd nft nftables
shim_setup t47
netns_deadline 60

head -c 4M /dev/urandom > "$WORK/up"
want=$(sha "$WORK/up")
# Mode byte first: S reads to EOF, answers "sha256 bytes" and appends it to $WORK/got; E echoes.
cat > "$WORK/srv.py" <<'PY'
import hashlib, socket, sys, threading
def handle(c):
    if c.recv(1) == b"E":
        while True:
            b = c.recv(65536)
            if not b: break
            c.sendall(b)
        c.close(); return
    h = hashlib.sha256(); n = 0
    while True:
        b = c.recv(65536)
        if not b: break
        h.update(b); n += len(b)
    line = "%s %d\n" % (h.hexdigest(), n)
    try: c.sendall(line.encode())
    except OSError: pass
    open(sys.argv[1], "a").write(line); c.close()
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.0.0.1", 7110)); l.listen(8)
while True:
    c, _ = l.accept(); threading.Thread(target=handle, args=(c,), daemon=True).start()
PY
cat > "$WORK/cli.py" <<'PY'
import socket, struct, sys, threading
def retrans(s):  # struct tcp_info's tcpi_total_retrans (offset 100)
    return struct.unpack_from("I", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104), 100)[0]
data = open(sys.argv[2], "rb").read()
s = socket.create_connection(("10.0.0.1", 7110), timeout=30)
if sys.argv[1] == "shut":
    s.sendall(b"S" + data); s.shutdown(socket.SHUT_WR); r = b""
    while True:
        b = s.recv(1000)
        if not b: break
        r += b
    print(r.decode().strip()); print(retrans(s), file=sys.stderr)
elif sys.argv[1] == "close":
    s.sendall(b"S" + data); s.close()
else:
    got = []
    def rd():
        while True:
            b = s.recv(65536)
            if not b: break
            got.append(b)
    t = threading.Thread(target=rd); t.start()
    s.sendall(b"E" + data); s.shutdown(socket.SHUT_WR); t.join(30)
    print(b"".join(got) == data, len(b"".join(got))); print(retrans(s), file=sys.stderr)
PY
netns_bg "$NS" "$PY" "$WORK/srv.py" "$WORK/got"
netns_wait_port "$NS" 7110
# A shimmed program kept alive meanwhile, so the service (and its counters) outlives the transfers
# even if none of their connections stays in TIME-WAIT.
(ts 50 "$PY" -c 'import socket, time; s = socket.socket(); s.bind(("10.0.0.2", 7111)); s.listen(1); time.sleep(45)' &)
in_ns nft -f - <<'NFT'
table netdev t47 {
  chain in { type filter hook ingress device tap0 priority 0; ip saddr 10.0.0.2 tcp dport 7110 numgen random mod 100 < 3 counter drop; }
  chain out { type filter hook egress device tap0 priority 0; ip daddr 10.0.0.2 tcp sport 7110 numgen random mod 100 < 3 counter drop; }
}
NFT

got=$(ts 30 "$PY" "$WORK/cli.py" shut "$WORK/up" 2>"$WORK/rx1")
[ "$got" = "$want 4194304" ] || { echo "FAIL: sendall + shutdown: the server read '$got', sent $want 4194304"; exit 1; }
echo "ok: 4 MiB then shutdown(SHUT_WR) under loss: the server read them all (sha256 equal)"
: > "$WORK/got"
ts 30 "$PY" "$WORK/cli.py" close "$WORK/up"
for _ in $(seq 1 150); do [ -s "$WORK/got" ] && break; sleep 0.1; done
[ "$(cat "$WORK/got")" = "$want 4194304" ] || { echo "FAIL: sendall + close: the server read '$(cat "$WORK/got")'"; exit 1; }
echo "ok: 4 MiB then close() right away under loss: the server read them all (sha256 equal)"
got=$(ts 30 "$PY" "$WORK/cli.py" echo "$WORK/up" 2>"$WORK/rx2")
[ "$got" = "True 4194304" ] || { echo "FAIL: echo under loss both ways: '$got'"; exit 1; }
echo "ok: 4 MiB echoed under loss both ways, intact"

drops=$(in_ns nft list ruleset | awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") printf "%s ", $(i + 1) }')
read -r d_in d_out <<<"$drops"
[ "${d_in:-0}" -gt 0 ] && [ "${d_out:-0}" -gt 0 ] || { echo "FAIL: nftables dropped '$drops' (in out): no loss"; exit 1; }
tsctl() { ip netns exec "$NS" env TAPSTACK_TAP=tap0 "$ROOT/scripts/tapstack" "$@"; }
# tcpi_total_retrans of the shutdown and echo connections, read by the program before it closed.
retx=$(cat "$WORK/rx1" "$WORK/rx2" | awk '/^[0-9]+$/ { s += $1 } END { print s + 0 }')
st=$(tsctl stats) || { echo "FAIL: tapstack stats: $st"; exit 1; }
tso=$(awk '$1 == "ip.tso_out" { print $2 }' <<<"$st")
echo "   dropped by nftables: $d_in to the kernel, $d_out to tapstack; tapstack retransmitted $retx; ip.tso_out ${tso:-0}"
[ "$retx" -gt 0 ] || { echo "FAIL: no retransmission counted (TCP_INFO)"; cat "$WORK/rx1" "$WORK/rx2"; exit 1; }
[ "${tso:-0}" -gt 0 ] || { echo "FAIL: no TSO super-segment (ip.tso_out ${tso:-0})"; exit 1; }
echo "ok: TSO on (ip.tso_out $tso), losses repaired ($retx retransmissions)"
