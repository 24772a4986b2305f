#!/usr/bin/env bash
# Bulk data through the service with pauses on either side (issue 12: the service moves TCP
# bytes between the socketpair and the engine's rings in place). Download: the shimmed reader
# stops reading three times, so its pair fills, the bytes wait in the engine's receive ring and
# the window closes; each time it reads again, the rest must follow. Upload: the kernel reader
# stops three times, so the engine's send ring fills and the shimmed writer blocks on its pair.
# Every byte arrives, in order (sha256). Kernel side: tap0 10.0.0.1/24; tapstack side 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t95

N=$((8 << 20))
head -c "$N" /dev/urandom > "$WORK/blob"
want=$(sha "$WORK/blob")

# Reads everything from `c`, stopping for 0.4 s after 1, 3 and 5 MiB; prints the sha256.
cat > "$WORK/lib.py" <<'EOF'
import hashlib, socket, time
def slow_read(c, n):
    h, got, stops = hashlib.sha256(), 0, [1 << 20, 3 << 20, 5 << 20]
    while got < n:
        if stops and got >= stops[0]:
            stops.pop(0); time.sleep(0.4)
        b = c.recv(1 << 16)
        if not b:
            break
        h.update(b); got += len(b)
    return got, h.hexdigest()
def connect(host, port):
    for _ in range(50):
        try:
            return socket.create_connection((host, port), timeout=30)
        except OSError:
            time.sleep(0.1)
    raise SystemExit("no connection")
EOF
cat > "$WORK/srv.py" <<'EOF'
import socket, sys
sys.path.insert(0, sys.argv[3])
from lib import slow_read
mode, port, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.0.1", port)); s.listen(1)
c, _ = s.accept(); c.settimeout(30)
if mode == "down":
    c.sendall(open(work + "/blob", "rb").read()); c.shutdown(socket.SHUT_WR)
    c.recv(1)  # the client's close
else:
    got, h = slow_read(c, 1 << 62)
    c.sendall(("%d %s\n" % (got, h)).encode()); c.shutdown(socket.SHUT_WR)
c.close()
EOF
cat > "$WORK/cli.py" <<'EOF'
import socket, sys
sys.path.insert(0, sys.argv[3])
from lib import slow_read, connect
mode, port, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = connect("10.0.0.1", port); c.settimeout(30)
if mode == "down":
    got, h = slow_read(c, 1 << 62)
    print(got, h)
else:
    c.sendall(open(work + "/blob", "rb").read()); c.shutdown(socket.SHUT_WR)
    print(c.makefile().readline().strip())
c.close()
EOF

for mode in down up; do
  port=$([ "$mode" = down ] && echo 9100 || echo 9101)
  netns_bg "$NS" "$PY" "$WORK/srv.py" "$mode" "$port" "$WORK"
  netns_wait_port "$NS" "$port"
  rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
  out=$(ts 90 "$PY" "$WORK/cli.py" "$mode" "$port" "$WORK")
  [ "$out" = "$N $want" ] || { echo "FAIL: $mode with pauses: got '$out', want '$N $want'"; exit 1; }
  if [ "$mode" = down ]; then crossed tx "$N" "$tx0" "download"; else crossed rx "$N" "$rx0" "upload"; fi
  echo "ok: 8 MiB $mode through the service, the reader stopping three times"
done
