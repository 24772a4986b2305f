#!/usr/bin/env bash
# Go programs (found trying real programs: `tapstack hey URL` ran and printed its 200 responses,
# and not one byte crossed tap0). Go's runtime makes its socket system calls itself (the SYSCALL
# instruction, not libc), so LD_PRELOAD cannot reach them even in a dynamically linked Go
# program, and its traffic silently took the kernel's stack. The launcher refuses a Go program
# as it refuses a static one: one line on stderr, exit 126, nothing sent. `hey` (Debian's Go
# HTTP load generator) is the real program; a copy under another name is refused too (found by
# its contents, not its name); curl beside it still crosses tap0. Run by a shimmed program
# (sh, Python, env), hey runs with one warning line on stderr (the shim's exec hooks).
# Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
for t in hey curl; do command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (make deps)"; exit 1; }; done
shim_setup t67
mkdir -p "$WORK/www"; head -c 20000 /dev/urandom > "$WORK/www/f"
cat > "$WORK/srv.py" <<'PY'
import http.server, sys
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *a):
        print("request", flush=True)
http.server.ThreadingHTTPServer(("10.0.0.1", 8067),
    lambda *a: H(*a, directory=sys.argv[1])).serve_forever()
PY
netns_bg "$NS" "$PY" "$WORK/srv.py" "$WORK/www" > "$WORK/srv.log" 2>&1
netns_wait_port "$NS" 8067
url=http://10.0.0.1:8067/f

# refused WHAT CMD...: exit 126, one stderr line naming a Go program, no request served, tap0
# untouched.
refused() {
  local what=$1 rc=0 rx0 tx0 req0; shift
  rx0=$(tap_bytes rx); tx0=$(tap_bytes tx); req0=$(grep -c request "$WORK/srv.log" || true)
  ts 30 "$@" > "$WORK/out" 2> "$WORK/err" || rc=$?
  [ "$rc" = 126 ] || { echo "FAIL: $what: exit $rc, expected 126"; cat "$WORK/out" "$WORK/err"; exit 1; }
  [ "$(wc -l < "$WORK/err")" = 1 ] && grep -q 'is a Go program' "$WORK/err" \
    || { echo "FAIL: $what: stderr is not the one line:"; cat "$WORK/err"; exit 1; }
  [ "$(grep -c request "$WORK/srv.log" || true)" = "$req0" ] || { echo "FAIL: $what ran anyway (the server saw a request)"; exit 1; }
  [ "$(tap_bytes rx)" = "$rx0" ] && [ "$(tap_bytes tx)" = "$tx0" ] || { echo "FAIL: $what: traffic on tap0"; exit 1; }
  echo "ok: $what refused (exit 126): $(cat "$WORK/err")"
}
refused "hey (Go, dynamically linked)" hey -n 4 -c 1 "$url"
cp "$(command -v hey)" "$WORK/webget"
PATH="$WORK:$PATH" refused "a copy of hey named webget, through PATH" webget -n 4 -c 1 "$url"

# Why: with the library preloaded by hand, hey gets its answers from the kernel's stack (the
# namespace's loopback route to 10.0.0.1), and nothing crosses tap0.
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
in_ns env LD_PRELOAD="$LIB" TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_GW=10.0.0.1 \
  timeout 30 hey -n 4 -c 1 "$url" > "$WORK/hey.out" 2>&1 || true
grep -q '\[200\].*4 responses' "$WORK/hey.out" || { echo "FAIL: hey with LD_PRELOAD did not get its 4 answers:"; cat "$WORK/hey.out"; exit 1; }
d=$(( $(tap_bytes rx) - rx0 + $(tap_bytes tx) - tx0 ))
[ "$d" -lt 4000 ] || { echo "FAIL: hey's requests crossed tap0 ($d bytes): Go's sockets reach tapstack now; revisit the launcher's refusal"; exit 1; }
echo "ok: preloaded by hand, hey's 4 requests took the kernel's stack ($d bytes on tap0)"

# Deeper down (a shell, a Python subprocess, env's execvp), the shim lets hey run (it may not
# use the network at all) but never silently: one line on stderr names it, from each exec path
# (execve, vfork + execve, execvp). Were the check gone, hey would run with no word.
for how in "sh -c" "python3" "env"; do
  case $how in
    "sh -c") cmd=(sh -c "hey -n 4 -c 1 $url");;
    python3) cmd=("$PY" -c "import subprocess, sys; sys.exit(subprocess.run(['hey', '-n', '4', '-c', '1', '$url']).returncode)");;
    env) cmd=(env hey -n 4 -c 1 "$url");;
  esac
  rc=0
  ts 30 "${cmd[@]}" > "$WORK/out" 2> "$WORK/err" || rc=$?
  [ "$rc" = 0 ] && grep -q '\[200\].*4 responses' "$WORK/out" || { echo "FAIL: hey under $how did not run:"; cat "$WORK/out" "$WORK/err"; exit 1; }
  [ "$(grep -c 'tapstack: /usr/bin/hey is a Go program' "$WORK/err")" = 1 ] \
    || { echo "FAIL: hey under $how: no one-line warning on stderr:"; cat "$WORK/err"; exit 1; }
done
echo "ok: hey run by sh, by a Python subprocess and by env: it runs, and stderr says it is a Go program"

# A C program beside it still runs through tapstack.
rx0=$(tap_bytes rx)
ts 30 curl -sS --fail -o "$WORK/got" "$url"
cmp -s "$WORK/got" "$WORK/www/f" || { echo "FAIL: curl through the launcher: wrong body"; exit 1; }
crossed rx 100 "$rx0" "curl"
echo "ok: curl (C, libc sockets) still runs through tapstack"
