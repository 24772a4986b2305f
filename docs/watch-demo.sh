#!/usr/bin/env bash
# Makes the pictures of the README's "Watch a connection" section from real runs, inside a
# private namespace (tap0, kernel side 10.0.0.1):
#  - docs/ladder-curl.txt: `tapstack --trace curl` downloading a 100 KiB file;
#  - docs/upload-loss.svg (+ .jsonl): tapstack uploading 2 MiB to a kernel receiver over a link
#    with TAPSTACK_FAULTS 1% loss and 10 ms delay each way, drawn by `tapstack plot`, and
#    docs/upload-loss-zoom.svg: 0.25 s around the first fast retransmit;
#  - docs/ladder-upload-loss.txt: the ladder of that same upload.
#   docs/watch-demo.sh [SEED]   (root; needs `make build`)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup demo
SEED=${1:-5}
head -c 100K /dev/urandom > "$WORK/file"
netns_bg "$NS" "$PY" -m http.server --bind 10.0.0.1 --directory "$WORK" 8000
netns_wait_port "$NS" 8000
TAPSTACK_TRACE_FILE="$ROOT/docs/ladder-curl.txt" ts 60 --trace curl -sS -o /dev/null http://10.0.0.1:8000/file

netns_bg "$NS" "$PY" -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.0.1", 9000)); s.listen()
c, _ = s.accept(); n = 0
while True:
    d = c.recv(1 << 16)
    if not d: break
    n += len(d)
c.close(); print("received", n)'
netns_wait_port "$NS" 9000
TAPSTACK_FAULTS="loss=0.01,delay=10ms,seed=$SEED" TAPSTACK_TRACE=ladder,events \
  TAPSTACK_TRACE_FILE="$ROOT/docs/upload-loss.jsonl" \
  ts 120 "$PY" -c '
import socket
s = socket.create_connection(("10.0.0.1", 9000))
s.sendall(bytes(2 << 20)); s.close()' 2>"$ROOT/docs/ladder-upload-loss.txt"
"$ROOT/scripts/tapstack" plot "$ROOT/docs/upload-loss.jsonl" -o "$ROOT/docs/upload-loss.svg"
# Zoom: from 50 ms before the first fast retransmit, 250 ms.
t=$("$PY" -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
t0 = evs[0]["t_us"]
fr = [e["t_us"] for e in evs if e.get("reason") == "fast-retransmit"]
print("%.3f" % max(0, (fr[0] - t0) / 1e6 - 0.05))' "$ROOT/docs/upload-loss.jsonl")
"$ROOT/scripts/tapstack" plot "$ROOT/docs/upload-loss.jsonl" --time "$t..$("$PY" -c "print($t + 0.25)")" \
  -o "$ROOT/docs/upload-loss-zoom.svg"
grep -o '"reason":"[a-z-]*"' "$ROOT/docs/upload-loss.jsonl" | sort | uniq -c
