#!/usr/bin/env bash
# curl uploads 16 MiB (PUT and POST) through tapstack; a kernel-side server checks sha256.
# Kernel side: TAP tap0 10.0.0.1/24 inside a private namespace. tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/netns-lib.sh"
netns_require_root
LIB=${TAPSTACK_LIB:-$ROOT/target/release/libtapstack_preload.so}
[ -r "$LIB" ] || { echo "FAIL: $LIB is not built (make build)"; exit 1; }
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)
WORK=$(mktemp -d)
trap 'netns_cleanup; rm -rf "$WORK"' EXIT
netns_make NS t51
netns_tap "$NS" tap0 10.0.0.1/24
# in_ns CMD...: kernel stack inside the namespace. ts SECS CMD...: through tapstack, bounded.
in_ns() { ip netns exec "$NS" "$@"; }
ts() { local t=$1; shift; timeout -k 5 "$t" ip netns exec "$NS" env TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 \
        TAPSTACK_GW=10.0.0.1 TAPSTACK_LINGER="${TAPSTACK_LINGER:-5000}" TAPSTACK_LIB="$LIB" "$ROOT/scripts/tapstack" "$@"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# Proof that traffic went through tapstack: only tapstack writes frames into tap0 (the kernel's
# rx), and what the kernel sends to 10.0.0.2 leaves through tap0 (its tx). Without the shim a
# program would reach 10.0.0.1 over the kernel's own loopback and these counters would not move.
tap_bytes() { in_ns cat "/sys/class/net/tap0/statistics/$1_bytes"; }
# crossed rx|tx MIN BEFORE WHAT: at least MIN bytes crossed tap0 in that direction since BEFORE.
crossed() {
  local d=$(( $(tap_bytes "$1") - $3 ))
  [ "$d" -ge "$2" ] || { echo "FAIL: $4: only $d bytes crossed tap0 ($1), expected >= $2 (not through tapstack?)"; exit 1; }
  echo "   $4: $d bytes crossed tap0 (kernel $1)"
}

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
rx0=$(tap_bytes rx)
got=$(ts 120 curl -sS --fail --max-time 100 -H 'Expect:' -H 'Content-Type: application/octet-stream' \
      --data-binary @"$WORK/up" http://10.0.0.1:8001/post)
[ "$got" = "$want" ] || { echo "FAIL: POST: server saw sha256 '$got', sent $want"; exit 1; }
crossed rx 16777216 "$rx0" "curl POST"
echo "ok: curl POST 16 MiB through tapstack, server sha256 equal"
