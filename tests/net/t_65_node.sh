#!/usr/bin/env bash
# node through tapstack (issue 10): `server.listen(port)` with no host listens on `::`
# (AF_INET6, dual-stack) and serves a kernel curl, which node sees as ::ffff:10.0.0.1; a dgram
# (libuv) UDP socket exchanges a datagram with the kernel side. Both cross the TAP.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
command -v node >/dev/null || { echo "FAIL: node is not installed (make deps)"; exit 1; }
shim_setup t65
cat > "$WORK/srv.js" <<'JS'
const http = require('http');
const s = http.createServer((req, res) => { res.end('hi ' + req.socket.remoteAddress + '\n'); s.close(); });
s.listen(8080, () => console.log('listening ' + JSON.stringify(s.address())));
JS
cat > "$WORK/udp.js" <<'JS'
const dgram = require('dgram');
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => { console.log('reply ' + m + ' from ' + r.address); u.close(); });
u.send('hello', 9065, '10.0.0.1');
setTimeout(() => { console.log('timeout'); process.exit(1); }, 10000).unref();
JS
ts 30 node "$WORK/srv.js" > "$WORK/srv.out" 2>&1 &
srv=$!
for _ in $(seq 300); do grep -q listening "$WORK/srv.out" && break; sleep 0.1; done   # node starts slowly on a busy machine
before=$(tap_bytes rx)
out=$(in_ns curl -sS --max-time 10 http://10.0.0.2:8080/)
wait $srv || { echo "FAIL: node server"; cat "$WORK/srv.out"; exit 1; }
grep -q 'listening {"address":"::","family":"IPv6","port":8080}' "$WORK/srv.out" || { echo "FAIL: node did not listen on ::"; cat "$WORK/srv.out"; exit 1; }
[ "$out" = "hi ::ffff:10.0.0.1" ] || { echo "FAIL: node answered '$out'"; exit 1; }
crossed rx 100 "$before" "node http server"
echo "ok: node server.listen(8080) on :: through tapstack served a kernel curl ($out)"

netns_bg "$NS" "$PY" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.0.0.1", 9065))
d, a = s.recvfrom(100); s.sendto(b"re:" + d, a)'
netns_wait_udp_port "$NS" 9065
before=$(tap_bytes rx)
out=$(ts 30 node "$WORK/udp.js")
[ "$out" = "reply re:hello from 10.0.0.1" ] || { echo "FAIL: node dgram: '$out'"; exit 1; }
crossed rx 40 "$before" "node dgram"
echo "ok: node dgram round trip through tapstack"
