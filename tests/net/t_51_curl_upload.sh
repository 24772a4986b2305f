#!/usr/bin/env bash
# curl uploads 16 MiB (PUT and POST) through tapstack; a kernel-side server checks sha256.
# Kernel side: TAP tap0 10.0.0.1/24 inside a private namespace. tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t51

head -c 16M /dev/urandom > "$WORK/up"
want=$(sha "$WORK/up")
cat > "$WORK/srv.py" <<'EOF'
import hashlib, http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        left = int(self.headers["Content-Length"]); h = hashlib.sha256()
        while left > 0:
            b = self.rfile.read(min(left, 65536))
            if not b:
                break
            h.update(b); left -= len(b)
        body = (h.hexdigest() + "\n").encode()
        self.send_response(200 if left == 0 else 400)
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    do_POST = do_PUT
    def log_message(self, *a):
        pass
http.server.HTTPServer(("10.0.0.1", 8001), H).serve_forever()
EOF
netns_bg "$NS" "$PY" "$WORK/srv.py"
netns_wait_port "$NS" 8001

rx0=$(tap_bytes rx)
got=$(ts 120 curl -sS --fail --max-time 100 -H 'Expect:' -T "$WORK/up" http://10.0.0.1:8001/up)
[ "$got" = "$want" ] || { echo "FAIL: PUT: server saw sha256 '$got', sent $want"; exit 1; }
crossed rx 16777216 "$rx0" "curl PUT"
echo "ok: curl PUT 16 MiB through tapstack, server sha256 equal"
# The upload went as TSO super-segments, cut by the kernel (the service still runs: TIME-WAIT).
stats=$(ip netns exec "$NS" env TAPSTACK_TAP=tap0 "$ROOT/scripts/tapstack" stats)
tso=$(awk '$1 == "ip.tso_out" { print $2 }' <<<"$stats")
[ "${tso:-0}" -ge 100 ] || { echo "FAIL: ${tso:-no} TSO super-segments for 16 MiB"; printf '%s\n' "$stats"; exit 1; }
echo "ok: $tso TSO super-segments"
rx0=$(tap_bytes rx)
got=$(ts 120 curl -sS --fail --max-time 100 -H 'Expect:' -H 'Content-Type: application/octet-stream' \
      --data-binary @"$WORK/up" http://10.0.0.1:8001/post)
[ "$got" = "$want" ] || { echo "FAIL: POST: server saw sha256 '$got', sent $want"; exit 1; }
crossed rx 16777216 "$rx0" "curl POST"
echo "ok: curl POST 16 MiB through tapstack, server sha256 equal"
