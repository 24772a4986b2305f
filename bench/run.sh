#!/usr/bin/env bash
# `make bench`: the same workloads over kernel<->kernel (veth between two namespaces) and
# tapstack<->kernel (shimmed client on a TAP device, kernel server), side by side with the ratio
# tapstack/kernel. Every figure is the median of BENCH_RUNS (default 5) runs. Writes the table
# to stdout, bench/results/latest.md and bench/results/latest.json. Only measures; bounded
# in time (every process runs under `timeout`).
#
# Environment: BENCH_RUNS (5), BENCH_BULK_MIB (256), BENCH_PINGPONG_ROUNDS (10000),
#              BENCH_CONN_SECS (5), BENCH_IDLE_CONNS (1000), BENCH_TOPOLOGIES ("kk tk ts").
# Topology ts = tk with TAPSTACK_MODE=service (the shared stack, tapstackd): its figures are
# reported beside the in-process ones of the same run.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=../scripts/netns-lib.sh
source scripts/netns-lib.sh
# shellcheck source=../c-tests/compare-lib.sh
source c-tests/compare-lib.sh
netns_require_root
make -s -C c-tests >/dev/null || { echo "c-tests do not build" >&2; exit 1; }

RUNS=${BENCH_RUNS:-5}
MIB=${BENCH_BULK_MIB:-256}
ROUNDS=${BENCH_PINGPONG_ROUNDS:-10000}
CONN_SECS=${BENCH_CONN_SECS:-5}
IDLE=${BENCH_IDLE_CONNS:-1000}
read -r -a TOPOS <<<"${BENCH_TOPOLOGIES:-kk tk ts}"
CL_STEP_TIMEOUT=${BENCH_STEP_TIMEOUT:-120}
CL_SERVER_GRACE=10
WORK=$(mktemp -d /tmp/bench.XXXXXX)
RESULTS=$ROOT/bench/results
mkdir -p "$RESULTS"

# Metrics in table order: key|label|unit|better (higher/lower)
METRICS=(
  "bulk_up|bulk, client sending ($MIB MiB)|MiB/s|higher"
  "bulk_down|bulk, client receiving ($MIB MiB)|MiB/s|higher"
  "rtt_median|ping-pong RTT median ($ROUNDS rounds)|us|lower"
  "rtt_p99|ping-pong RTT p99 ($ROUNDS rounds)|us|lower"
  "conn_rate|connections/s (connect + 1-byte req/reply + close, ${CONN_SECS} s)|conn/s|higher"
  "rss_1|client peak RSS, 1 connection|KiB|lower"
  "rss_n|client peak RSS, $IDLE idle connections|KiB|lower"
  "rss_per_conn|memory per connection ((RSS_$IDLE - RSS_1) / $((IDLE - 1)))|KiB|lower"
  "tap_fps|TAP raw ceiling, MTU-sized frames written|frames/s|higher"
  "tap_mibs|TAP raw ceiling, MTU-sized frames written|MiB/s|higher"
)
declare -A VAL   # VAL[metric,topo] = "v1 v2 ..." (one per successful run)
declare -A FAILS # FAILS[metric,topo] = number of failed runs
PORT=7200

# field FILE KEY: the number after "KEY " in FILE.
field() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }

add() { VAL[$1,$2]="${VAL[$1,$2]:-} $3"; }
fail() { FAILS[$1,$2]=$(( ${FAILS[$1,$2]:-0} + 1 )); }

# run_pair METRIC TOPO SIDE KEY "SERVER ARGV" "CLIENT ARGV": one run; the figure KEY is read
# from SIDE's (srv|cli) output.
run_pair() {
  local metric=$1 topo=$2 side=$3 key=$4 srv=$5 cli=$6 dir v
  PORT=$((PORT + 1))
  dir=$WORK/$topo/$metric.$PORT
  srv="${srv//@PORT/$PORT} -w $CL_STEP_TIMEOUT"; cli="${cli//@PORT/$PORT} -w $CL_STEP_TIMEOUT"
  # Bounded: after two failed runs of a workload in a topology, skip the rest of its runs.
  if [ "${FAILS[$metric,$topo]:-0}" -ge 2 ]; then LAST=; return; fi
  LAST_DIR=$dir
  if cl_pair "$dir" "$srv" "$cli" && v=$(field "$dir/$side.out" "$key") && [ -n "$v" ]; then
    add "$metric" "$topo" "$v"
    LAST=$v
  else
    fail "$metric" "$topo"
    LAST=
    echo "   run failed: $metric in $topo (see $dir)" >&2
    tail -n 3 "$dir/srv.err" "$dir/cli.err" 2>/dev/null | sed 's/^/     /' >&2
  fi
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

bench_label() { if [ "$1" = ts ]; then echo "ts-client<->kernel, shared service (tapstackd)"; else topo_label "$1"; fi; }

bench_topo() {
  local t=$1 i
  echo "== $(bench_label "$t")"
  local setup=$t
  [ "$t" = ts ] && setup=tk
  if ! topo_setup "$setup"; then
    echo "   topology unavailable (shim not built?)" >&2
    netns_cleanup
    return
  fi
  if [ "$t" = ts ]; then CLI_ENV+=(TAPSTACK_MODE=service); fi
  for ((i = 1; i <= RUNS; i++)); do
    echo "   run $i/$RUNS"
    run_pair bulk_up "$t" srv mib_per_s "bulk_recv -l -p @PORT -t" "bulk_send -c @HOST -p @PORT -m $MIB -t"
    run_pair bulk_down "$t" cli mib_per_s "bulk_send -l -p @PORT -m $MIB -t" "bulk_recv -c @HOST -p @PORT -t"
    run_pair rtt_median "$t" cli median_us "pingpong server -p @PORT" "pingpong client -c @HOST -p @PORT -n $ROUNDS -t"
    if [ -n "$LAST" ]; then add rtt_p99 "$t" "$(field "$LAST_DIR/cli.out" p99_us)"; else fail rtt_p99 "$t"; fi
    run_pair conn_rate "$t" cli conn_per_s "accept_rate server -p @PORT -t" "accept_rate client -c @HOST -p @PORT -T $CONN_SECS -t"
    run_pair rss_1 "$t" cli peak_rss_kb "many_conns server -p @PORT -k 1" "many_conns client -c @HOST -p @PORT -k 1 -H 200 -t"
    local r1=$LAST
    run_pair rss_n "$t" cli peak_rss_kb "many_conns server -p @PORT -k $IDLE" "many_conns client -c @HOST -p @PORT -k $IDLE -H 200 -t"
    if [ -n "$r1" ] && [ -n "$LAST" ]; then
      add rss_per_conn "$t" "$(awk -v a="$r1" -v b="$LAST" -v n="$IDLE" 'BEGIN { printf "%.2f", (b - a) / (n - 1) }')"
    else fail rss_per_conn "$t"; fi
  done
  # The device ceiling is the same for both columns: measured once, on the TAP topology.
  if [ ${#CL_TAPS[@]} -gt 0 ] && [ "$t" != ts ]; then
    for ((i = 1; i <= RUNS; i++)); do
      local out=$WORK/tap_blast.$i
      if timeout 30 ip netns exec "$SRV_NS" "$CL_BIN/tap_blast" -i "${CL_TAPS[0]}" -T 1 >"$out" 2>&1; then
        add tap_fps "$t" "$(field "$out" frames_per_s)"
        add tap_mibs "$t" "$(field "$out" mib_per_s)"
      else fail tap_fps "$t"; fail tap_mibs "$t"; fi
    done
  fi
  netns_cleanup
}

# The TAP ceiling needs a TAP even when the tapstack topology is not measured.
for t in "${TOPOS[@]}"; do bench_topo "$t"; done
if [[ " ${TOPOS[*]} " != *" tk "* ]]; then
  netns_make TOPO_NS tapceil && netns_tap "$TOPO_NS" tap0 "" && SRV_NS=$TOPO_NS && CL_TAPS=(tap0)
  for ((i = 1; i <= RUNS; i++)); do
    out=$WORK/tap_blast.$i
    if timeout 30 ip netns exec "$SRV_NS" "$CL_BIN/tap_blast" -i tap0 -T 1 >"$out" 2>&1; then
      add tap_fps tk "$(field "$out" frames_per_s)"; add tap_mibs tk "$(field "$out" mib_per_s)"
    fi
  done
  netns_cleanup
fi

# ---- report ---------------------------------------------------------------------------------
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
CPU=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
MACHINE="$(nproc) cores ($CPU), Linux $(uname -r)"
SVC_COL=
[[ " ${TOPOS[*]} " == *" ts "* ]] && SVC_COL=1
md=$WORK/latest.md
json=$WORK/latest.json
{
  echo "tapstack bench, $DATE, $MACHINE; each figure the median of $RUNS runs"
  echo "(kernel = kernel<->kernel over veth; tapstack = shimmed client over TAP <-> kernel server)"
  if [ -n "$SVC_COL" ]; then
    echo "(service = the same shimmed client on the shared stack, TAPSTACK_MODE=service; service/in-process = its ratio to the tapstack column)"
    echo
    echo "| workload | unit | kernel | tapstack | tapstack/kernel | service | service/in-process |"
    echo "|---|---|---:|---:|---:|---:|---:|"
  else
    echo
    echo "| workload | unit | kernel | tapstack | tapstack/kernel |"
    echo "|---|---|---:|---:|---:|"
  fi
} >"$md"
{
  printf '{\n  "date": "%s",\n  "machine": "%s",\n  "runs": %s,\n  "metrics": [\n' "$DATE" "$MACHINE" "$RUNS"
} >"$json"
first=1
for m in "${METRICS[@]}"; do
  IFS='|' read -r key label unit better <<<"$m"
  k=$(echo "${VAL[$key,kk]:-}" | median)
  s=$(echo "${VAL[$key,tk]:-}" | median)
  ratio=""
  if [ -n "$k" ] && [ -n "$s" ]; then
    ratio=$(awk -v a="$s" -v b="$k" 'BEGIN { if (b + 0 <= 0) print ""; else printf "%.2f", a / b }')
  fi
  note() { local f=${FAILS[$1,$2]:-0}; [ "$f" -gt 0 ] && echo " ($f failed)"; }
  v=$(echo "${VAL[$key,ts]:-}" | median)
  vratio=""
  if [ -n "$v" ] && [ -n "$s" ]; then
    vratio=$(awk -v a="$v" -v b="$s" 'BEGIN { if (b + 0 <= 0) print ""; else printf "%.2f", a / b }')
  fi
  extra=""
  [ -n "$SVC_COL" ] && extra=" ${v:-n/a}$(note "$key" ts) | ${vratio:-n/a} |"
  [ -n "$SVC_COL" ] && [[ $key == tap_* ]] && extra=" - | - |"
  if [[ $key == tap_* ]]; then   # a property of the device: one figure, no ratio
    printf '| %s | %s | - | %s%s | - |%s\n' "$label" "$unit" "${s:-n/a}" "$(note "$key" tk)" "$extra" >>"$md"
  else
    printf '| %s | %s | %s%s | %s%s | %s |%s\n' "$label" "$unit" "${k:-n/a}" "$(note "$key" kk)" \
      "${s:-n/a}" "$(note "$key" tk)" "${ratio:-n/a}" "$extra" >>"$md"
  fi
  [ $first = 1 ] || printf ',\n' >>"$json"
  first=0
  num() { [ -n "$1" ] && echo "$1" || echo null; }
  printf '    {"key": "%s", "label": "%s", "unit": "%s", "better": "%s", "kernel": %s, "tapstack": %s, "ratio": %s, "service": %s, "service_ratio": %s, "kernel_runs": [%s], "tapstack_runs": [%s], "service_runs": [%s]}' \
    "$key" "$label" "$unit" "$better" "$(num "$k")" "$(num "$s")" "$(num "$ratio")" "$(num "$v")" "$(num "$vratio")" \
    "$(echo ${VAL[$key,kk]:-} | tr ' ' ',')" "$(echo ${VAL[$key,tk]:-} | tr ' ' ',')" \
    "$(echo ${VAL[$key,ts]:-} | tr ' ' ',')" >>"$json"
done
printf '\n  ]\n}\n' >>"$json"
{
  echo
  echo "RSS is the client process's peak resident set (VmHWM). Under the kernel the sockets' memory"
  echo "is kernel memory outside the process, so the memory rows compare what the process pays,"
  echo "not the total. The TAP ceiling is one writer of 1514-byte frames into the device, no stack."
} >>"$md"
echo
cat "$md"
cp "$md" "$RESULTS/latest.md"
cp "$json" "$RESULTS/latest.json"
rm -rf "$WORK"
echo
echo "written: bench/results/latest.md, bench/results/latest.json"
