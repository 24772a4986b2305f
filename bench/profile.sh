#!/usr/bin/env bash
# Where the time goes: `perf record -g` on the shimmed client of a bulk transfer over the TAP
# (tapstack client <-> kernel server), then the top of `perf report` by DSO and symbol, and
# `strace -c`-style syscall counts per MiB. Writes bench/results/profile-<dir>.txt.
# Usage: bench/profile.sh [up|down|conn] [MIB]   (up = client sending; conn = accept_rate for
# 3 s; default up 256)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source scripts/netns-lib.sh
source c-tests/compare-lib.sh
netns_require_root
command -v perf >/dev/null || { echo "perf not installed" >&2; exit 1; }
make -s -C c-tests >/dev/null || exit 1
DIR=${1:-up}
MIB=${2:-256}
case $DIR in
  up) SRV="bulk_recv -l -p 7300 -t"; CLI=(bulk_send -c 10.0.0.1 -p 7300 -m "$MIB" -t);;
  down) SRV="bulk_send -l -p 7300 -m $MIB -t"; CLI=(bulk_recv -c 10.0.0.1 -p 7300 -t);;
  conn) SRV="accept_rate server -p 7300 -t"; CLI=(accept_rate client -c 10.0.0.1 -p 7300 -T 3 -t);;
  *) echo "usage: bench/profile.sh [up|down|conn] [MIB]" >&2; exit 2;;
esac
topo_setup tk || exit 1
WORK=$(mktemp -d /tmp/profile.XXXXXX)
OUT=$ROOT/bench/results/profile-$DIR.txt
mkdir -p "$(dirname "$OUT")"

run_client() {  # run_client PREFIX...: the shimmed client under PREFIX (perf or strace)
  rm -f "$WORK/ready"
  read -r -a sargv <<<"$SRV"
  cl_start srv "$WORK/srv.out" "$WORK/srv.err" "${sargv[@]}" -R "$WORK/ready"
  local spid=$CL_PID i
  for ((i = 0; i < 200; i++)); do [ -e "$WORK/ready" ] && break; sleep 0.05; done
  read -r -a pre <<<"$(cl_shim_prefix)"
  timeout -k 5 120 ip netns exec "$CLI_NS" "$@" env "${CLI_ENV[@]}" "${pre[@]}" \
    "$CL_BIN/${CLI[0]}" "${CLI[@]:1}" >"$WORK/cli.out" 2>"$WORK/cli.err"
  cl_wait "$spid" 15
}

{
  echo "# bench/profile.sh $DIR $MIB ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, Linux $(uname -r))"
  echo "# shimmed client: ${CLI[*]}"
  run_client perf record -g -o "$WORK/perf.data" --
  echo "# throughput:"
  cat "$WORK/srv.out" "$WORK/cli.out" | grep -E 'mib_per_s|conn_per_s' 
  echo
  echo "## perf report --no-children --sort dso,symbol (top 45)"
  perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol -g none 2>/dev/null |
    grep -v '^#' | grep -v '^$' | sed 's/[ -]*$//' | head -n 45
  echo
  echo "## perf report --sort pid (the application thread vs the stack thread)"
  perf report -i "$WORK/perf.data" --stdio --no-children --sort pid -g none 2>/dev/null |
    grep -v '^#' | grep -v '^$' | sed 's/[ -]*$//' | head -n 10
  if command -v strace >/dev/null; then
    echo
    echo "## strace -f -c (syscalls of the whole shimmed process, all threads)"
    run_client strace -f -c -o "$WORK/strace.txt"
    grep -v 'detached' "$WORK/strace.txt" | head -n 12
  fi
} >"$OUT" 2>&1
netns_cleanup
rm -rf "$WORK"
cat "$OUT"
echo "written: $OUT"
