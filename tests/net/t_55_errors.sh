#!/usr/bin/env bash
# errors through tapstack as the kernel gives them: refused, unanswered, reset mid-transfer.
# Kernel side: TAP tap0 10.0.0.1/24 inside a private namespace. tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t55

# 1. closed port: curl reports "Connection refused".
rx0=$(tap_bytes rx)
out=$(ts 20 curl -sS -v --max-time 10 http://10.0.0.1:9/ 2>&1 || true)
grep -q "Connection refused" <<<"$out" || { echo "FAIL: closed port: curl said: $out"; exit 1; }
crossed rx 54 "$rx0" "SYN to the closed port"
echo "ok: closed port -> Connection refused"

# 2. nobody answers (no ARP reply for 10.0.0.77): fails within --connect-timeout.
rx0=$(tap_bytes rx)
# curl's own clock (-w): the launcher's and curl's start-up, slow on a busy machine, do not count.
rc=0; t=$(ts 20 curl -sS --connect-timeout 2 -o /dev/null -w '%{time_total}' http://10.0.0.77/ 2>"$WORK/err") || rc=$?
ms=$(awk -v t="$t" 'BEGIN { printf "%d", t * 1000 }')
[ "$rc" = 28 ] || { echo "FAIL: unanswered address: curl exit $rc (want 28): $(cat "$WORK/err")"; exit 1; }
[ "$ms" -lt 6000 ] || { echo "FAIL: unanswered address took $ms ms with --connect-timeout 2"; exit 1; }
crossed rx 42 "$rx0" "ARP requests for 10.0.0.77"
echo "ok: unanswered address -> curl timed out after $ms ms (--connect-timeout 2)"

# 3. peer reset mid-transfer: a kernel server sends some data then closes with SO_LINGER 0.
cat > "$WORK/rst.py" <<'EOF'
import socket, struct, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.0.1", 9100)); s.listen(1)
c, _ = s.accept()
c.sendall(b"x" * 100000)
time.sleep(0.5)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
EOF
netns_bg "$NS" "$PY" "$WORK/rst.py"
netns_wait_port "$NS" 9100
tx0=$(tap_bytes tx)
out=$(ts 30 "$PY" -c '
import errno, socket, time
c = socket.create_connection(("10.0.0.1", 9100), timeout=20)
time.sleep(1.0)
try:
    while True:
        b = c.recv(65536)
        if not b:
            print("EOF"); break
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))')
[ "$out" = "ECONNRESET" ] || { echo "FAIL: reset mid-transfer: client saw $out"; exit 1; }
crossed tx 100000 "$tx0" "data before the reset"
echo "ok: peer reset mid-transfer -> ECONNRESET"

# 4. The stack cannot start (no TAP of that name in the namespace): socket() fails with
# ENETDOWN at once and one line says why (the service's own reason, read from its report pipe;
# was: a 3 s wait and "did not come up"). A bad TAPSTACK_* value: EINVAL, said once.
# The time is that of the socket() call (which starts the service), not of the launcher and
# python starting, which a busy machine can make slow.
out=$(timeout 20 ip netns exec "$NS" env TAPSTACK_TAP=tapnone TAPSTACK_LIB="$LIB" "$ROOT/scripts/tapstack" "$PY" -c '
import errno, socket, time
t = time.monotonic()
try:
    socket.socket(); r = "created"
except OSError as e:
    r = errno.errorcode.get(e.errno, e.errno)
print(r, int((time.monotonic() - t) * 1000))' 2>"$WORK/start.err")
ms=${out#* }; out=${out% *}
[ "$out" = ENETDOWN ] || { echo "FAIL: no TAP: socket() gave '$out'"; cat "$WORK/start.err"; exit 1; }
grep -q '^tapstack: cannot start the stack on TAP "tapnone": .*no such device' "$WORK/start.err" \
  || { echo "FAIL: no TAP: stderr says:"; cat "$WORK/start.err"; exit 1; }
[ "$ms" -lt 2500 ] || { echo "FAIL: no TAP: socket() took $ms ms"; exit 1; }
echo "ok: no TAP -> ENETDOWN in $ms ms: $(head -n 1 "$WORK/start.err")"
out=$(timeout 20 ip netns exec "$NS" env TAPSTACK_ADDR=bogus TAPSTACK_LIB="$LIB" "$ROOT/scripts/tapstack" "$PY" -c '
import errno, socket
for _ in range(3):
    try:
        socket.socket(); print("created")
    except OSError as e:
        print(errno.errorcode.get(e.errno, e.errno))' 2>"$WORK/cfg.err")
[ "$out" = "$(printf 'EINVAL\nEINVAL\nEINVAL')" ] || { echo "FAIL: bad TAPSTACK_ADDR: socket() gave '$out'"; exit 1; }
[ "$(grep -c 'bad configuration: TAPSTACK_ADDR' "$WORK/cfg.err")" = 1 ] \
  || { echo "FAIL: bad TAPSTACK_ADDR: stderr says:"; cat "$WORK/cfg.err"; exit 1; }
echo "ok: bad TAPSTACK_ADDR -> EINVAL, one line: $(cat "$WORK/cfg.err")"
