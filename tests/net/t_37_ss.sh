#!/usr/bin/env bash
# Issue 13: `tapstack ss` and `tapstack stats` read the running service (the shared stack):
#  - with nothing running, `tapstack ss` says so in one line and fails;
#  - during a shimmed curl download (paced by the server so it lasts about 4 s), `tapstack ss -ti`
#    lists the connection with its process (curl and its pid), a non-zero srtt and bytes
#    received, and `tapstack ss -tl` lists nothing of it; `tapstack stats` shows the frames and
#    the TCP counters; the download still completes intact (the queries do not disturb it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t37
Q=$ROOT/target/release/tapstack-query
[ -x "$Q" ] || { echo "FAIL: $Q is not built (make build)"; exit 1; }
tsq() { ip netns exec "$NS" env TAPSTACK_TAP=tap0 "$ROOT/scripts/tapstack" "$@"; }

# 1. Nothing running.
set +e; out=$(tsq ss 2>&1); rc=$?; set -e
echo "no service: rc=$rc: $out"
[ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && printf '%s' "$out" | grep -q 'no tapstack service'

# 2. During a transfer.
# The server paces the body (96 chunks of 64 KiB, 40 ms apart): curl's own --limit-rate is no
# bound (curl 7.88 read 6 MiB in 0.22 s once the whole body sat in the socket buffers, and the
# run ended before the first poll).
head -c 6M /dev/urandom > "$WORK/f"
cat >"$WORK/pace.py" <<'PYEOF'
import socket, sys, time
data = open(sys.argv[1], 'rb').read()
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('10.0.0.1', 8000)); srv.listen(4)
while True:
    c, _ = srv.accept()
    req = b''
    while b'\r\n\r\n' not in req:
        b = c.recv(4096)
        if not b: break
        req += b
    if not req.startswith(b'GET /f '):
        c.close(); continue
    c.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n' % len(data))
    for i in range(0, len(data), 65536):
        c.sendall(data[i:i + 65536]); time.sleep(0.04)
    c.close()
PYEOF
netns_bg "$NS" "$PY" "$WORK/pace.py" "$WORK/f"
netns_wait_port "$NS" 8000
ts 60 curl -sS -o "$WORK/f.out" http://10.0.0.1:8000/f 2>"$WORK/curl.err" &
CURL=$!
ok=0
# Polled while the download runs (it lasts about 4 s; its start may take a while on a busy
# machine), at most 40 s.
for _ in $(seq 1 160); do
  sleep 0.25
  kill -0 "$CURL" 2>/dev/null || break
  tsq ss -ti >"$WORK/ss.txt" 2>"$WORK/ss.err" || continue
  if grep -q '10.0.0.1:8000 .*users:(("curl",pid=[0-9]*))' "$WORK/ss.txt" \
     && grep -q 'rtt:[0-9.]*/' "$WORK/ss.txt" && grep -Eq 'bytes_received:[1-9]' "$WORK/ss.txt"; then
    ok=1; break
  fi
done
cat "$WORK/ss.txt" "$WORK/ss.err" 2>/dev/null || true
if [ "$ok" != 1 ]; then
  set +e; wait "$CURL"; echo "curl: rc=$? $(cat "$WORK/curl.err")"
  echo "FAIL: ss -ti did not show the download with its process, rtt and bytes"; exit 1
fi
rtt=$(grep -o 'rtt:[0-9.]*' "$WORK/ss.txt" | head -n 1 | cut -d: -f2)
awk -v r="$rtt" 'BEGIN { exit !(r > 0) }' || { echo "FAIL: srtt is zero"; exit 1; }
# ESTAB, or CLOSE-WAIT once the server has sent the whole file and its FIN: the service's
# receive buffer (up to tcp_rmem's 6 MiB, as Linux) and the pair hold what curl has not read yet.
grep -Eq '^tcp +(ESTAB|CLOSE-WAIT) ' "$WORK/ss.txt" || { echo "FAIL: ss -ti shows the download in no live state"; exit 1; }
tsq ss -tl >"$WORK/ssl.txt"
if grep -q '10.0.0.1:8000' "$WORK/ssl.txt"; then echo "FAIL: ss -tl lists the connection"; exit 1; fi
tsq stats >"$WORK/stats.txt"
cat "$WORK/stats.txt"
grep -Eq '^frames: rx [1-9][0-9]* tx [1-9]' "$WORK/stats.txt"
grep -q '^TCP: .* in TIME-WAIT; SYN cookies: ' "$WORK/stats.txt"
grep -Eq '^tcp.rx_segments +[1-9]' "$WORK/stats.txt"
wait "$CURL" || { echo "FAIL: curl: $(cat "$WORK/curl.err")"; exit 1; }
[ "$(sha "$WORK/f.out")" = "$(sha "$WORK/f")" ] || { echo "FAIL: download differs"; exit 1; }
echo "PASS"
