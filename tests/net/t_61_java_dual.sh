#!/usr/bin/env bash
# Java with default flags uses AF_INET6 sockets with IPv4-mapped addresses (issue 10): through
# tapstack, `java Client.java` (HttpURLConnection) downloads byte-exact over the TAP, and a
# java ServerSocket (bound to [::]) serves a kernel client.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
command -v java >/dev/null || { echo "FAIL: java is not installed (make deps)"; exit 1; }
shim_setup t61
J=$ROOT/tests/net/java
head -c 1M /dev/urandom > "$WORK/file"
want=$(sha "$WORK/file")
netns_bg "$NS" "$PY" -m http.server --bind 10.0.0.1 --directory "$WORK" 8000
netns_wait_port "$NS" 8000
before=$(tap_bytes tx)
out=$(ts 90 java "$J/Client.java" http://10.0.0.1:8000/file)
[ "$out" = "$want 1048576" ] || { echo "FAIL: java client: '$out' (want $want 1048576)"; exit 1; }
crossed tx 1000000 "$before" "java HttpURLConnection"
echo "ok: java HttpURLConnection through tapstack, sha256 equal"

ts 90 java "$J/Server.java" 9000 "$WORK/ready" > "$WORK/srv.out" 2>&1 &
srv=$!
for _ in $(seq 300); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
before=$(tap_bytes rx)
reply=$(in_ns "$PY" -c '
import socket
c = socket.create_connection(("10.0.0.2", 9000), timeout=20); c.sendall(b"hi\n"); print(c.recv(100).decode().strip())')
wait $srv || { echo "FAIL: java server"; cat "$WORK/srv.out"; exit 1; }
[ "$reply" = "java hi from 10.0.0.1" ] || { echo "FAIL: java server replied '$reply'"; cat "$WORK/srv.out"; exit 1; }
crossed rx 50 "$before" "java ServerSocket"
echo "ok: java ServerSocket served a kernel client through tapstack ($reply)"
