#!/usr/bin/env bash
# A shimmed Python program holds an open tapstack connection and runs subprocess.run(["curl",
# ...]) 10 times: every child (shimmed too: LD_PRELOAD is inherited) downloads byte-exact
# through the same TAP while the parent's connection stays usable (issue 10: one stack per TAP
# shared by processes). Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t82

head -c 1M /dev/urandom > "$WORK/file"
want=$(sha "$WORK/file")
netns_bg "$NS" "$PY" -m http.server --bind 10.0.0.1 --directory "$WORK" 8000
netns_wait_port "$NS" 8000
netns_bg "$NS" sh -c "exec nc -l 10.0.0.1 7001 > '$WORK/held'"
netns_wait_port "$NS" 7001
cat > "$WORK/parent.py" <<'PY'
import hashlib, socket, subprocess, sys
work, want = sys.argv[1], sys.argv[2]
held = socket.create_connection(("10.0.0.1", 7001), timeout=10)
held.sendall(b"before;")
for i in range(10):
    out = "%s/dl%d" % (work, i)
    r = subprocess.run(["curl", "-sS", "--max-time", "30", "-o", out, "http://10.0.0.1:8000/file"],
                       capture_output=True, text=True, timeout=60)
    got = hashlib.sha256(open(out, "rb").read()).hexdigest() if r.returncode == 0 else "-"
    if r.returncode != 0 or got != want:
        print("download %d: curl exit %d, sha %s, stderr: %s" % (i, r.returncode, got, r.stderr.strip()))
        sys.exit(1)
    held.sendall(b"%d;" % i)
held.sendall(b"after")
held.close()
print("all ok")
PY
tx0=$(tap_bytes tx); rx0=$(tap_bytes rx)
out=$(ts 120 "$PY" "$WORK/parent.py" "$WORK" "$want" 2>&1) || true
[ "$out" = "all ok" ] || { echo "FAIL: $out"; exit 1; }
crossed tx $((10 * 1048576)) "$tx0" "10 downloads by subprocesses"
for _ in $(seq 1 50); do [ "$(cat "$WORK/held")" = "before;0;1;2;3;4;5;6;7;8;9;after" ] && break; sleep 0.1; done
[ "$(cat "$WORK/held")" = "before;0;1;2;3;4;5;6;7;8;9;after" ] || { echo "FAIL: the parent's connection carried '$(cat "$WORK/held")'"; exit 1; }
crossed rx 30 "$rx0" "the parent's held connection"
echo "ok: a shimmed python holding a connection ran curl 10 times through the same TAP, byte-exact"
