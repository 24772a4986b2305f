#!/usr/bin/env bash
# Raw sockets (socket(AF_INET, SOCK_RAW, ...)) are tapstack's, as traceroute -I and -T use them,
# through a router namespace (kernel, forwarding) to a target:
#   tapstack 10.0.0.2 --tap0-- 10.0.0.1 [NS, router] 10.0.1.1 --veth-- 10.0.1.2 [NS2, target]
# traceroute -I writes echo requests on a raw ICMP socket with IP_TTL 1, 2, ... and reads the
# router's "time exceeded" from the error queue (IP_RECVERR: the ICMP error quoting its own
# echo request goes to raw ICMP sockets) and the target's echo reply as a raw copy with its IP
# header; -T writes TCP SYNs on a raw TCP socket and reads the SYN-ACK as a raw copy (the
# stack answers it with a reset, as Linux does). Were the sockets the kernel's, the probes would
# leave this namespace's kernel straight onto the veth: one hop, not two, and nothing on the
# TAP. Then `tapstack ss -wa` lists a raw socket held open, with its protocol.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t38
netns_deadline 120
command -v traceroute >/dev/null || { echo "FAIL: traceroute is not installed"; exit 1; }
router_setup t38b
netns_bg "$NS2" python3 -m http.server -b 10.0.1.2 8080
netns_wait_port "$NS2" 8080

for method in -I "-T -p 8080"; do
  rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
  # shellcheck disable=SC2086 # the method's words
  rc=0
  # -w 5,0,0: up to 5 s for every probe (by default a probe still unanswered 10 times the next
  # hop's round trip is given up: under load, hop 1 read "*").
  ts 60 traceroute -n -q 2 -m 4 -w 5,0,0 $method 10.0.1.2 > "$WORK/tr" 2>&1 || rc=$?
  cat "$WORK/tr"
  [ "$rc" = 0 ] || { echo "FAIL: traceroute $method exited $rc"; exit 1; }
  grep -Eq '^ *1 +10\.0\.0\.1 ' "$WORK/tr" || { echo "FAIL: traceroute $method: hop 1 is not the router 10.0.0.1"; exit 1; }
  grep -Eq '^ *2 +10\.0\.1\.2 ' "$WORK/tr" || { echo "FAIL: traceroute $method: hop 2 is not the target"; exit 1; }
  ! grep -Eq '^ *3 ' "$WORK/tr" || { echo "FAIL: traceroute $method: went past the target"; exit 1; }
  rx=$(( $(tap_bytes rx) - rx0 )); tx=$(( $(tap_bytes tx) - tx0 ))
  echo "TAP: $tx bytes to the kernel, $rx from it"
  [ "$rx" -gt 300 ] && [ "$tx" -gt 300 ] || { echo "FAIL: traceroute $method: its probes did not cross the TAP"; exit 1; }
done
echo "ok: traceroute -I and -T through tapstack's raw sockets: 2 hops, over the TAP"

# A raw ICMP socket held open: `tapstack ss -wa` lists it (protocol 1 as its port; not connected,
# so only with -a, as Linux's ss).
cat > "$WORK/hold.py" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
print("open", flush=True)
time.sleep(float(sys.argv[1]))
EOF
ts 30 python3 "$WORK/hold.py" 5 > "$WORK/hold.out" 2>&1 &
netns_wait_grep "$WORK/hold.out" open 10
rc=0
ip netns exec "$NS" env TAPSTACK_TAP=tap0 "$ROOT/scripts/tapstack" ss -wan > "$WORK/ss" 2>&1 || rc=$?
cat "$WORK/ss"
[ "$rc" = 0 ] || { echo "FAIL: tapstack ss -wan exited $rc"; exit 1; }
grep -Eq '^raw +UNCONN .* 0\.0\.0\.0:1 .*python3' "$WORK/ss" || { echo "FAIL: ss -wa does not list the raw socket"; exit 1; }
! grep -Eq '^(tcp|udp) ' "$WORK/ss" || { echo "FAIL: ss -wa lists other sockets"; exit 1; }
echo "ok: tapstack ss -wa lists the raw socket"
