#!/usr/bin/env bash
# TCP_USER_TIMEOUT (RFC 5482, tcp(7)) through the shim, against the kernel's own behaviour: a
# Python client holds three connections to a kernel echo server, then the server's address
# vanishes (a black hole: the kernel drops what arrives for an address it no longer has). The
# connection with unacknowledged data and TCP_USER_TIMEOUT 1500 ms fails with ETIMEDOUT within
# a few seconds; the idle one with keepalive every second, 20 probes and TCP_USER_TIMEOUT
# 2500 ms too (the user timeout, not the 20 probes, decides); the one without stays open (it
# would retry for minutes). The same client runs on the kernel's stack (a veth pair) first;
# both must print the same outcome, each time in the same band. Before that, TCP_SYNCNT: a
# connect whose SYNs are dropped gives up as the kernel's does. Kernel side: tap0 10.0.0.1/24;
# tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
command -v nft >/dev/null || { echo "FAIL: nft is not installed (make deps)"; exit 1; }
shim_setup t100
netns_make KNS t100k
ip link add vk0 netns "$NS" type veth peer name vk1 netns "$KNS"
ip -n "$NS" addr add 10.0.1.1/24 dev vk0
ip -n "$NS" link set vk0 up
ip -n "$KNS" addr add 10.0.1.2/24 dev vk1
ip -n "$KNS" link set vk1 up
ip -n "$KNS" link set lo up

write_echo_server "$WORK/server.py" 0.0.0.0
cat > "$WORK/client.py" <<'PY'
import errno, os, select, socket, sys, time
host, ready, go = sys.argv[1:4]
TCP_USER_TIMEOUT = 18
T = socket.IPPROTO_TCP
def conn(opts):
    s = socket.create_connection((host, 9001), timeout=5)
    s.settimeout(None)
    for lvl, name, v in opts:
        s.setsockopt(lvl, name, v)
    s.sendall(b"hi")
    assert s.recv(10) == b"hi"
    return s
c1 = conn([(T, TCP_USER_TIMEOUT, 1500)])
c2 = conn([(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1), (T, socket.TCP_KEEPIDLE, 1),
           (T, socket.TCP_KEEPINTVL, 1), (T, socket.TCP_KEEPCNT, 20), (T, TCP_USER_TIMEOUT, 2500)])
c3 = conn([])
print("TCP_USER_TIMEOUT read back:", c1.getsockopt(T, TCP_USER_TIMEOUT), c2.getsockopt(T, TCP_USER_TIMEOUT),
      c3.getsockopt(T, TCP_USER_TIMEOUT))
open(ready, "w").close()
end = time.monotonic() + 10
while not os.path.exists(go) and time.monotonic() < end:
    time.sleep(0.01)
t0 = time.monotonic()
c1.send(b"x")
c3.send(b"z")
left = {c1: "data, 1500 ms", c2: "keepalive, 2500 ms", c3: "data, no user timeout"}
res = {}
while left and time.monotonic() - t0 < 8:
    r, _, _ = select.select(list(left), [], [], 0.1)
    for s in r:
        try:
            what = "data" if s.recv(10) else "end of stream"
        except OSError as e:
            what = errno.errorcode.get(e.errno, str(e.errno))
        res[left.pop(s)] = (what, time.monotonic() - t0)
for name in ("data, 1500 ms", "keepalive, 2500 ms", "data, no user timeout"):
    what, t = res.get(name, ("still open after 8 s", None))
    band = "" if t is None else (" within 1.5-4.5 s" if 1.5 <= t <= 4.5 else f" after {t:.2f} s (outside 1.5-4.5)")
    print(f"{name}: {what}{band}")
PY

in_ns python3 "$WORK/server.py" > "$WORK/server.out" 2>&1 &
_NETNS_PIDS+=("$!")
netns_deadline 60
netns_wait_port "$NS" 9001 || { echo "FAIL: echo server did not start"; cat "$WORK/server.out"; exit 1; }

# TCP_SYNCNT: SYNs to a port where the server's host drops them (nftables) give ETIMEDOUT after
# 7 s with 2 (Linux 6.x: resends at 1, 2, 3, 4, 5 s, the time backoff takes for two of them
# then passed), on both stacks.
in_ns nft -f - <<'NFT'
table inet t100 {
  chain input {
    type filter hook input priority 0;
    tcp dport 9002 drop
  }
}
NFT
cat > "$WORK/syn.py" <<'PY'
import errno, socket, sys, time
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 2)
t0 = time.monotonic()
try:
    s.connect((sys.argv[1], 9002))
    print("TCP_SYNCNT 2: connected")
except OSError as e:
    t = time.monotonic() - t0
    print("TCP_SYNCNT 2:", errno.errorcode.get(e.errno, e.errno), "within 6.5-8 s" if 6.5 <= t <= 8 else f"after {t:.2f} s")
PY
timeout 30 ip netns exec "$KNS" python3 "$WORK/syn.py" 10.0.1.1 > "$WORK/syn-kernel.out" 2>&1 &
kp=$!
ts 30 python3 "$WORK/syn.py" 10.0.0.1 > "$WORK/syn-tapstack.out" 2>&1 ||
  { echo "FAIL: the shimmed client exited $?"; cat "$WORK/syn-tapstack.out"; exit 1; }
wait "$kp" || { echo "FAIL: the kernel client exited $?"; cat "$WORK/syn-kernel.out"; exit 1; }
echo "   kernel: $(cat "$WORK/syn-kernel.out")"; echo "   tapstack: $(cat "$WORK/syn-tapstack.out")"
grep -q 'ETIMEDOUT within' "$WORK/syn-kernel.out" || { echo "FAIL: the kernel did not time out as expected"; exit 1; }
diff "$WORK/syn-kernel.out" "$WORK/syn-tapstack.out" || { echo "FAIL: TCP_SYNCNT: tapstack and the kernel differ"; exit 1; }

# run NAME HOSTADDR VANISH_DEV CMD...: the client; once it is ready, the server's address goes.
run() {
  local name=$1 host=$2 dev=$3; shift 3
  rm -f "$WORK/ready" "$WORK/go"
  "$@" python3 "$WORK/client.py" "$host" "$WORK/ready" "$WORK/go" > "$WORK/$name.out" 2>&1 &
  local pid=$!
  local n=0
  until [ -e "$WORK/ready" ]; do
    n=$((n + 1))
    [ $n -lt 200 ] && kill -0 "$pid" 2>/dev/null || { echo "FAIL: $name client not ready"; cat "$WORK/$name.out"; exit 1; }
    sleep 0.05
  done
  ip -n "$NS" addr del "$host/24" dev "$dev"
  touch "$WORK/go"
  wait "$pid" || { echo "FAIL: $name client exited $?"; cat "$WORK/$name.out"; exit 1; }
  echo "   $name:"; sed 's/^/     /' "$WORK/$name.out"
}
run kernel 10.0.1.1 vk0 timeout 30 ip netns exec "$KNS"
rx0=$(tap_bytes rx)
run tapstack 10.0.0.1 tap0 ts 30
crossed rx 300 "$rx0" "three connections and their retransmissions"
grep -q 'data, 1500 ms: ETIMEDOUT within' "$WORK/kernel.out" || { echo "FAIL: the kernel did not time out as expected"; exit 1; }
diff "$WORK/kernel.out" "$WORK/tapstack.out" || { echo "FAIL: tapstack and the kernel differ"; exit 1; }
echo "ok: TCP_USER_TIMEOUT and TCP_SYNCNT through the shim: ETIMEDOUT with unacknowledged data, with keepalive and for SYNs, as the kernel"
