#!/usr/bin/env bash
# Programs the shim cannot reach (issue 10): a statically linked executable ignores LD_PRELOAD
# and would silently use the kernel's stack. The launcher refuses it with one line on stderr
# and a nonzero exit, without running it: gcc -static and -static-pie builds, by path and
# through PATH. The same program linked dynamically, a script and a shell run normally.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIB=${TAPSTACK_LIB:-$ROOT/target/release/libtapstack_preload.so}
[ -r "$LIB" ] || { echo "FAIL: $LIB is not built (make build)"; exit 1; }
command -v gcc >/dev/null || { echo "FAIL: gcc is not installed (make deps)"; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/prog.c" <<'C'
#include <stdio.h>
int main(int argc, char **argv) {
    FILE *f = fopen(argv[1], "w");
    if (!f) return 2;
    fputs("ran\n", f);
    return fclose(f) != 0;
}
C
gcc -O1 -static -o "$WORK/prog_static" "$WORK/prog.c" || { echo "FAIL: gcc -static failed (libc6-dev's libc.a missing?)"; exit 1; }
gcc -O1 -static-pie -o "$WORK/prog_spie" "$WORK/prog.c" || { echo "FAIL: gcc -static-pie failed"; exit 1; }
gcc -O1 -o "$WORK/prog_dyn" "$WORK/prog.c"
ts() { TAPSTACK_LIB="$LIB" "$ROOT/scripts/tapstack" "$@"; }

refused() {  # refused WHAT CMD...: nonzero exit, one stderr line naming the program, not run
  local what=$1; shift
  rm -f "$WORK/marker"
  set +e
  ts "$@" "$WORK/marker" 2> "$WORK/err"; rc=$?
  set -e
  [ "$rc" -ne 0 ] || { echo "FAIL: $what: exit 0"; exit 1; }
  [ ! -e "$WORK/marker" ] || { echo "FAIL: $what ran anyway (on the kernel's stack)"; exit 1; }
  [ "$(wc -l < "$WORK/err")" = 1 ] && grep -q 'statically linked' "$WORK/err" \
    || { echo "FAIL: $what: stderr is not one line:"; cat "$WORK/err"; exit 1; }
  echo "ok: $what refused (exit $rc): $(cat "$WORK/err")"
}
refused "gcc -static by path" "$WORK/prog_static"
refused "gcc -static-pie" "$WORK/prog_spie"
PATH="$WORK:$PATH" refused "gcc -static through PATH" prog_static

rm -f "$WORK/marker"
ts "$WORK/prog_dyn" "$WORK/marker"
[ -e "$WORK/marker" ] || { echo "FAIL: the dynamic build did not run"; exit 1; }
printf '#!/bin/sh\necho script ran > "$1"\n' > "$WORK/script.sh"; chmod +x "$WORK/script.sh"
rm -f "$WORK/marker"; ts "$WORK/script.sh" "$WORK/marker"
[ -e "$WORK/marker" ] || { echo "FAIL: a script did not run"; exit 1; }
[ "$(ts bash -c 'echo "$LD_PRELOAD"')" = "$LIB" ] || { echo "FAIL: bash -c did not get the library"; exit 1; }
echo "ok: dynamic program, script and bash -c run normally"
