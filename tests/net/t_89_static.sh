#!/usr/bin/env bash
# A statically linked program ignores LD_PRELOAD and would silently use the kernel's stack
# (issue 10). The launcher detects it: `tapstack ./static-client` prints a one-line refusal and
# exits nonzero without running the program (no connection reaches the kernel server, nothing
# on stdout). The same program linked dynamically runs through tapstack (control). Run by a
# shimmed shell the static program runs with one warning line, and so does a `#!` script whose
# interpreter it is (the warning names the interpreter).
# Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t89
cat > "$WORK/cli.c" <<'C'
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(7300);
    inet_pton(AF_INET, "10.0.0.1", &sa.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 1; }
    if (write(s, "hello\n", 6) != 6) return 1;
    close(s);
    printf("program ran\n");
    return 0;
}
C
gcc -O2 -static -o "$WORK/static-cli" "$WORK/cli.c" || { echo "FAIL: cannot build a static program (libc6-dev)"; exit 1; }
gcc -O2 -o "$WORK/dyn-cli" "$WORK/cli.c"
file_out=$(file -b "$WORK/static-cli" 2>/dev/null || true)
echo "   built: static-cli ($file_out)"

netns_bg "$NS" sh -c "exec nc -lk 10.0.0.1 7300 > '$WORK/got'"
netns_wait_port "$NS" 7300

# Control: the dynamic program runs through tapstack.
rx0=$(tap_bytes rx)
out=$(ts 30 "$WORK/dyn-cli" 2>&1) || { echo "FAIL: dynamic program through tapstack: $out"; exit 1; }
[ "$out" = "program ran" ] || { echo "FAIL: dynamic program: $out"; exit 1; }
crossed rx 6 "$rx0" "dynamic program"
for _ in $(seq 1 30); do [ "$(cat "$WORK/got")" = hello ] && break; sleep 0.1; done
[ "$(cat "$WORK/got")" = hello ] || { echo "FAIL: the dynamic program's data did not arrive"; exit 1; }

# The static one is refused.
: > "$WORK/got"
rx0=$(tap_bytes rx)
rc=0
ts 30 "$WORK/static-cli" > "$WORK/out" 2> "$WORK/err" || rc=$?
sleep 0.5
[ "$rc" != 0 ] || { echo "FAIL: tapstack ran a static program (exit 0); stdout: $(cat "$WORK/out")"; exit 1; }
[ ! -s "$WORK/out" ] || { echo "FAIL: the static program ran: $(cat "$WORK/out")"; exit 1; }
[ ! -s "$WORK/got" ] || { echo "FAIL: the static program reached the server through the kernel"; exit 1; }
lines=$(wc -l < "$WORK/err")
[ "$lines" = 1 ] || { echo "FAIL: refusal is $lines lines, expected one:"; cat "$WORK/err"; exit 1; }
grep -qi 'static' "$WORK/err" || { echo "FAIL: the refusal does not say the program is statically linked: $(cat "$WORK/err")"; exit 1; }
grep -q 'static-cli' "$WORK/err" || { echo "FAIL: the refusal does not name the program: $(cat "$WORK/err")"; exit 1; }
echo "ok: tapstack refuses a static program (exit $rc): $(cat "$WORK/err")"

# Run by a shimmed shell, it runs (it is the shell's to run), but stderr says in one line that
# its sockets are the kernel's (the shim's exec hook): never silently. The dynamic one, nothing.
: > "$WORK/got"
rc=0
ts 30 sh -c "'$WORK/static-cli'; '$WORK/dyn-cli'" > "$WORK/out" 2> "$WORK/err" || rc=$?
[ "$rc" = 0 ] && [ "$(grep -c 'program ran' "$WORK/out")" = 2 ] || { echo "FAIL: sh -c: exit $rc, $(cat "$WORK/out" "$WORK/err")"; exit 1; }
[ "$(wc -l < "$WORK/err")" = 1 ] && grep -q "tapstack: $WORK/static-cli is statically linked" "$WORK/err" \
  || { echo "FAIL: sh -c static-cli: expected one warning line, got: $(cat "$WORK/err")"; exit 1; }
echo "ok: run by a shimmed shell, the static program runs with a warning: $(cat "$WORK/err")"

# A `#!` script whose interpreter is the static program: the warning names the interpreter.
printf '#!%s\n' "$WORK/static-cli" > "$WORK/script"
chmod +x "$WORK/script"
rc=0
ts 30 sh -c "'$WORK/script'" > "$WORK/out" 2> "$WORK/err" || rc=$?
[ "$rc" = 0 ] && grep -q 'program ran' "$WORK/out" || { echo "FAIL: sh -c script: exit $rc, $(cat "$WORK/out" "$WORK/err")"; exit 1; }
[ "$(wc -l < "$WORK/err")" = 1 ] && grep -q "tapstack: $WORK/static-cli is statically linked" "$WORK/err" \
  || { echo "FAIL: sh -c script: expected one warning line naming its interpreter, got: $(cat "$WORK/err")"; exit 1; }
echo "ok: a script with a static interpreter runs with a warning: $(cat "$WORK/err")"
