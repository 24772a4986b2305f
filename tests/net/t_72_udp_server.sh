#!/usr/bin/env bash
# iperf3 as a UDP server under tapstack (kernel iperf3 client, -u). iperf3's UDP server connects
# its first UDP socket to the client and binds a second one to the same port with SO_REUSEADDR.
#
# The client is retried while the server is not listening yet: before tapstack starts nobody
# answers ARP for 10.0.0.2, and between the stack's start (the first socket()) and listen() a
# SYN gets a RST, as from the kernel. Each attempt is judged by its JSON, never by its exit
# status: iperf3 3.12 exits 0 under --json even after "unable to connect to server: Connection
# refused" (the test once took such an attempt for success, then waited for the -1 server until
# its timeout). Case 2 forces that window open: the stack runs 3 s before iperf3 listens.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t72
command -v iperf3 >/dev/null || { echo "FAIL: iperf3 is not installed (make deps)"; exit 1; }

# ok: finished with a summary; retry: could not connect (server not up yet); else: failed.
verdict() {
  "$PY" - "$1" <<'PY'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
except Exception:
    print("no-json"); sys.exit()
err = j.get("error", "")
if "sum" in j.get("end", {}) and not err:
    print("ok")
elif err.startswith("unable to connect"):
    print("retry")
else:
    print("error")
PY
}

# run_case NAME DELAY: a one-off iperf3 server through tapstack (its stack started DELAY s before
# it listens, 0 = iperf3 started directly), one kernel client retried until it connects.
run_case() {
  local name=$1 delay=$2 v=none spid
  # -4: iperf3's server otherwise asks for an AF_INET6 (dual-stack) socket, which is the kernel's.
  local srv=(iperf3 -4 -s -1 -p 5203)
  if [ "$delay" = 0 ]; then
    ts 60 "${srv[@]}" > "$WORK/server.log" 2>&1 &
  else
    # A socket() starts the stack; exec then gives iperf3 a fresh shim (and stack) on tap0.
    ts 60 "$PY" -c 'import os, socket, sys, time
s = socket.socket(); time.sleep(float(sys.argv[1])); os.execvp(sys.argv[2], sys.argv[2:])' "$delay" "${srv[@]}" \
      > "$WORK/server.log" 2>&1 &
  fi
  spid=$!
  tries=0
  for _ in $(seq 1 50); do
    tries=$((tries+1))
    in_ns timeout 30 iperf3 -c 10.0.0.2 -p 5203 -u -b 20M -l 1400 -t 2 --json > "$WORK/client.json" 2>/dev/null || true
    v=$(verdict "$WORK/client.json")
    [ "$v" = retry ] || break
    grep -q 'error' "$WORK/server.log" && break
    sleep 0.2
  done
  wait "$spid" || true
  [ "$v" = ok ] || { echo "FAIL: $name: iperf3 -u against a tapstack iperf3 server ($v)"; cat "$WORK/client.json" "$WORK/server.log"; exit 1; }
  "$PY" - "$WORK/client.json" "$tries" "$name" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["end"]["sum"]
assert s["packets"] > 1000 and s["lost_percent"] < 5, s
print("ok: %s: kernel iperf3 -u -> tapstack iperf3 server: %d datagrams, %.2f%% lost (client attempt %s)"
      % (sys.argv[3], s["packets"], s["lost_percent"], sys.argv[2]))
PY
}

run_case "server started directly" 0
run_case "stack up 3 s before listen()" 3
# The client cannot have connected during those 3 s: refused attempts must have been retried.
[ "$tries" -gt 1 ] || { echo "FAIL: no client attempt was refused before iperf3 listened"; exit 1; }
echo "ok: refused attempts (exit 0 under --json) were retried, not taken for success"
