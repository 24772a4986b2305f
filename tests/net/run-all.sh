#!/usr/bin/env bash
# Runs every tests/net/t_*.sh in name order (see README.md beside this file).
# Exit status 0 = pass, 77 = skipped (never allowed under CI=true), anything else = fail.
# NET_TESTS='wip_8*.sh t_90*.sh' runs other files (e.g. the wip_ tests that wait for a feature).
set -u
cd "$(dirname "$0")"
pass=0; fail=0; skip=0; failed=()
for t in ${NET_TESTS:-t_*.sh}; do
  [ -e "$t" ] || continue
  start=$(date +%s)
  log=$(mktemp)
  bash "./$t" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  case $rc in
    0) pass=$((pass+1)); echo "PASS  $t (${secs}s)";;
    77) skip=$((skip+1)); echo "SKIP  $t: $(tail -n 1 "$log")";;
    *) fail=$((fail+1)); failed+=("$t"); echo "FAIL  $t (exit $rc, ${secs}s); last lines:"; tail -n 30 "$log" | sed 's/^/      /';;
  esac
  rm -f "$log"
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] || exit 1
if [ "$skip" -ne 0 ] && [ "${CI:-}" = "true" ]; then echo "skipped tests under CI=true count as failures" >&2; exit 1; fi
exit 0
