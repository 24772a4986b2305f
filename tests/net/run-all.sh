#!/usr/bin/env bash
# Runs every tests/net/t_*.sh in name order (see README.md beside this file).
# Exit status 0 = pass, 77 = skipped (never allowed under CI=true), anything else = fail.
# NET_TESTS='wip_8*.sh t_90*.sh' runs other files (e.g. the wip_ tests that wait for a feature).
# Every shimmed test runs once per shim mode: NET_MODES (default "service inprocess"; the
# shared stack is the default mode, TAPSTACK_MODE=inprocess the private one). A test's
# "# modes:" line narrows that: "service" (needs the shared stack: several processes on one
# TAP, `tapstack ss`) runs in the service pass only; "host" (no shim) runs once.
set -u
cd "$(dirname "$0")"
pass=0; fail=0; skip=0; failed=()
read -r -a modes <<<"${NET_MODES:-service inprocess}"
for mode in "${modes[@]}"; do
  case $mode in service|inprocess) ;; *) echo "NET_MODES: unknown mode '$mode'" >&2; exit 2;; esac
  for t in ${NET_TESTS:-t_*.sh}; do
    [ -e "$t" ] || continue
    only=$(sed -n 's/^# modes: \([a-z]*\).*/\1/p' "$t" | head -n 1)
    case $only in
      host) [ "$mode" = "${modes[0]}" ] || continue;;
      service) [ "$mode" = service ] || continue;;
    esac
    start=$(date +%s)
    log=$(mktemp)
    TAPSTACK_MODE=$mode bash "./$t" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    name="$t"; [ "$only" = host ] || name="$t [$mode]"
    case $rc in
      0) pass=$((pass+1)); echo "PASS  $name (${secs}s)";;
      77) skip=$((skip+1)); echo "SKIP  $name: $(tail -n 1 "$log")";;
      *) fail=$((fail+1)); failed+=("$name"); echo "FAIL  $name (exit $rc, ${secs}s); last lines:"; tail -n 30 "$log" | sed 's/^/      /';;
    esac
    rm -f "$log"
  done
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] || exit 1
if [ "$skip" -ne 0 ] && [ "${CI:-}" = "true" ]; then echo "skipped tests under CI=true count as failures" >&2; exit 1; fi
exit 0
