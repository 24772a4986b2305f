#!/usr/bin/env bash
# Issue 13: `tapstack ss` and `tapstack stats` read the running service (the shared stack):
#  - with nothing running, `tapstack ss` says so in one line and fails;
#  - during a shimmed curl download (rate-limited so it lasts a few seconds), `tapstack ss -ti`
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
head -c 6M /dev/urandom > "$WORK/f"
netns_bg "$NS" "$PY" -m http.server --bind 10.0.0.1 --directory "$WORK" 8000
netns_wait_port "$NS" 8000
ts 60 curl -sS --limit-rate 1500K -o "$WORK/f.out" http://10.0.0.1:8000/f &
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
cat "$WORK/ss.txt" "$WORK/ss.err"
[ "$ok" = 1 ] || { echo "FAIL: ss -ti did not show the download with its process, rtt and bytes"; exit 1; }
rtt=$(grep -o 'rtt:[0-9.]*' "$WORK/ss.txt" | head -n 1 | cut -d: -f2)
awk -v r="$rtt" 'BEGIN { exit !(r > 0) }' || { echo "FAIL: srtt is zero"; exit 1; }
grep -q '^tcp   ESTAB' "$WORK/ss.txt"
tsq ss -tl >"$WORK/ssl.txt"
if grep -q '10.0.0.1:8000' "$WORK/ssl.txt"; then echo "FAIL: ss -tl lists the connection"; exit 1; fi
tsq stats >"$WORK/stats.txt"
cat "$WORK/stats.txt"
grep -Eq '^frames: rx [1-9][0-9]* tx [1-9]' "$WORK/stats.txt"
grep -q '^TCP: .* in TIME-WAIT; SYN cookies: ' "$WORK/stats.txt"
grep -Eq '^tcp.rx_segments +[1-9]' "$WORK/stats.txt"
wait "$CURL"
[ "$(sha "$WORK/f.out")" = "$(sha "$WORK/f")" ] || { echo "FAIL: download differs"; exit 1; }
echo "PASS"
