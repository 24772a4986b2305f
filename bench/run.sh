#!/usr/bin/env bash
# `make bench`: the same workloads over three stacks, side by side, with the ratio to the kernel.
#   kernel   = kernel client <-> kernel server over a veth between two namespaces (the reference)
#   tapstack = shimmed client on the shared stack (tapstackd) over a TAP
#   smoltcp  = stack/examples/smolpeer.rs (smoltcp on the same TAP), bulk and ping-pong only
# The server is always the kernel. Every figure is the median of the runs (BENCH_RUNS, 5).
# Writes the table to stdout, bench/results/latest.md and bench/results/latest.json. Only
# measures; bounded in time (every process runs under `timeout`, every loop has a count).
#
# usage: bench/run.sh [--quick] [--runs N] [--slow-runs N] [--rows GROUPS] [--loaded]
#   --quick        development: 1 run, small sizes (32 MiB, 2000 rounds, 1 s, 2000 idle conns)
#   --runs N       repetitions of every row (BENCH_RUNS, 5)
#   --slow-runs N  repetitions of the slow rows (idle connections; BENCH_SLOW_RUNS, = runs)
#   --rows GROUPS  comma list of: base,loaded,onecpu,streams,conn4,idle,tap (BENCH_ROWS, all)
#   --loaded       only the rows with one core kept busy (= --rows loaded)
# Environment: BENCH_BULK_MIB (256), BENCH_PINGPONG_ROUNDS (10000), BENCH_CONN_SECS (5),
#   BENCH_STREAMS (8), BENCH_STREAM_MIB (32 per stream), BENCH_CONN_PROCS (4),
#   BENCH_IDLE_CONNS (50000), BENCH_IDLE_PORTS (4), BENCH_TOPOLOGIES ("kk ts sm").
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=../scripts/netns-lib.sh
source scripts/netns-lib.sh
# shellcheck source=../c-tests/compare-lib.sh
source c-tests/compare-lib.sh
# shellcheck source=report.sh
source bench/report.sh

RUNS=${BENCH_RUNS:-5}
SLOW_RUNS=${BENCH_SLOW_RUNS:-}
MIB=${BENCH_BULK_MIB:-256}
ROUNDS=${BENCH_PINGPONG_ROUNDS:-10000}
CONN_SECS=${BENCH_CONN_SECS:-5}
NSTREAMS=${BENCH_STREAMS:-8}
SMIB=${BENCH_STREAM_MIB:-32}
NPROCS=${BENCH_CONN_PROCS:-4}
IDLE=${BENCH_IDLE_CONNS:-50000}
IDLE_PORTS=${BENCH_IDLE_PORTS:-4}
ROWS=${BENCH_ROWS:-base,loaded,onecpu,streams,conn4,idle,tap}
QUICK=
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1; RUNS=1; MIB=32; ROUNDS=2000; CONN_SECS=1; SMIB=8; IDLE=2000;;
    --runs) RUNS=$2; shift;;
    --slow-runs) SLOW_RUNS=$2; shift;;
    --rows) ROWS=$2; shift;;
    --loaded) ROWS=loaded;;
    -h|--help) sed -n '2,21p' "$0"; exit 0;;
    *) echo "bench/run.sh: unknown argument $1 (see --help)" >&2; exit 2;;
  esac
  shift
done
SLOW_RUNS=${SLOW_RUNS:-$RUNS}
# 50,000 connections need 50,000 descriptors. Where the hard RLIMIT_NOFILE cannot be raised (a
# container without CAP_SYS_RESOURCE: 20,000 here), idle_conns splits its connections over as
# many processes as the limit needs (the same for every stack), the kernel servers hold a port's
# share each, and tapstackd hands idle connections' pair ends to keeper processes
# (stack/src/service/keep.rs): its memory below is its own and its keepers'.
ulimit -Hn 1048576 2>/dev/null; ulimit -n "$(ulimit -Hn)" 2>/dev/null
IDLE_NOTE=
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ $((IDLE / IDLE_PORTS)) -gt $((NOFILE - 1000)) ]; then
  IDLE_NOTE="capped from $IDLE: one server port's share exceeds RLIMIT_NOFILE $NOFILE"
  IDLE=$(( (NOFILE - 1000) * IDLE_PORTS ))
fi
IDLE=$(( IDLE / IDLE_PORTS * IDLE_PORTS ))   # a multiple of the ports
read -r -a TOPOS <<<"${BENCH_TOPOLOGIES:-kk ts sm}"
row() { [[ ",$ROWS," == *",$1,"* ]]; }

netns_require_root
make -s -C c-tests >/dev/null || { echo "c-tests do not build" >&2; exit 1; }
CL_STEP_TIMEOUT=${BENCH_STEP_TIMEOUT:-120}
CL_SERVER_GRACE=10
WORK=$(mktemp -d /tmp/bench.XXXXXX)
[ -n "${BENCH_KEEP:-}" ] || _NETNS_TMP+=("$WORK")   # BENCH_KEEP=1 keeps the outputs
RESULTS=$ROOT/bench/results
mkdir -p "$RESULTS"
T_START=$SECONDS

# The programs: c-tests/bin plus the bench's own clients (bench/src) and smolpeer, in one
# directory (cl_start runs $CL_BIN/PROG).
BIN=$WORK/bin
mkdir -p "$BIN"
ln -s "$CL_BIN"/* "$BIN/"
for p in idle_conns streams; do
  cc -std=gnu11 -O2 -Wall -Wextra -Werror -pthread -o "$BIN/$p" "bench/src/$p.c" ||
    { echo "bench/src/$p.c does not build" >&2; exit 1; }
done
SMOLPEER=${SMOLPEER:-$ROOT/target/release/examples/smolpeer}
if [ -x "$SMOLPEER" ]; then ln -s "$SMOLPEER" "$BIN/smolpeer"
elif [[ " ${TOPOS[*]} " == *" sm "* ]]; then
  echo "smolpeer not built (cargo build --release -p tapstack --example smolpeer): no smoltcp column" >&2
fi
printf '#!/bin/sh\n# in_cgroup DIR CMD...: runs CMD in memory cgroup DIR\necho $$ >"$1/cgroup.procs" || exit 1\nshift\nexec "$@"\n' >"$BIN/in_cgroup"
chmod +x "$BIN/in_cgroup"
CL_BIN=$BIN
# The kernel's memory per connection: a v1 memory cgroup (kernel memory of the sockets included).
MEMCG=/sys/fs/cgroup/memory
[ -w "$MEMCG" ] && [ -e "$MEMCG/memory.usage_in_bytes" ] || MEMCG=

declare -A VAL FAILS
PORT=7200
field() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }
add() { VAL[$1,$2]="${VAL[$1,$2]:-} $3"; }
fail() { FAILS[$1,$2]=$(( ${FAILS[$1,$2]:-0} + 1 )); }
skip() { [ "${FAILS[$1,$2]:-0}" -ge 2 ]; }   # after two failed runs, skip the rest

# The busy core for the loaded rows: one CPU-bound shell loop, bounded, ended by PID.
BUSY=
busy_start() {
  timeout -k 2 $((CL_STEP_TIMEOUT * 2)) bash -c 'while :; do :; done' &
  BUSY=$!
  _NETNS_PIDS+=("$BUSY")
  sleep 0.2
}
busy_stop() {
  [ -n "$BUSY" ] || return 0
  kill "$BUSY" 2>/dev/null; wait "$BUSY" 2>/dev/null
  local keep=() p
  for p in "${_NETNS_PIDS[@]}"; do [ "$p" = "$BUSY" ] || keep+=("$p"); done
  _NETNS_PIDS=("${keep[@]}")
  BUSY=
}

# The one-CPU rows: every process of the run (client, server, and the tapstackd the client
# starts) on CPU 0, for every stack alike. On a VM without guest halt-polling a wake-up of a
# process on an idle vCPU costs tens of microseconds, so where the scheduler puts the processes
# decides the free-running latency rows (the kernel's own ping-pong median is ~4.5 us when its two
# processes share a CPU and ~60 us when they do not); these rows show the stacks' own costs.
pin_start() {
  [ "$1" = ts ] && { svc_gone || echo "   tapstackd of an earlier run still up" >&2; }
  CL_PIN=(taskset -c 0)
}
pin_stop() {
  CL_PIN=()
  [ "$1" = ts ] && { svc_gone || echo "   pinned tapstackd still up" >&2; }
  return 0
}

# run_pair METRIC TOPO SIDE KEY "SERVER ARGV" "CLIENT ARGV": one run of one server/client pair;
# the figure KEY is read from SIDE's (srv|cli) output. LAST = the figure or empty.
run_pair() {
  local metric=$1 topo=$2 side=$3 key=$4 srv=$5 cli=$6 dir v
  PORT=$((PORT + 1))
  dir=$WORK/$topo/$metric.$PORT
  srv="${srv//@PORT/$PORT} -w $CL_STEP_TIMEOUT"; cli="$CLI_WRAP${cli//@PORT/$PORT} -w $CL_STEP_TIMEOUT"
  LAST=
  skip "$metric" "$topo" && return
  LAST_DIR=$dir
  # A run on a TAP topology that moved no frame through a TAP did not use the userspace stack.
  if cl_pair "$dir" "$srv" "$cli" && v=$(field "$dir/$side.out" "$key") && [ -n "$v" ] &&
     { [ ${#CL_TAPS[@]} = 0 ] || [ "$CL_TAP_FRAMES" -gt 0 ] || { echo "   no frame through the TAP" >&2; false; }; }; then
    add "$metric" "$topo" "$v"
    LAST=$v
  else
    fail "$metric" "$topo"
    echo "   run failed: $metric in $topo (see $dir)" >&2
    tail -n 3 "$dir/srv.err" "$dir/cli.err" 2>/dev/null | sed 's/^/     /' >&2
  fi
}

# cli_env J: CLI_ENV and CHOST for client process J (every process shares the one stack).
cli_env() {
  CLI_ENV=("${BASE_ENV[@]}"); CHOST=$HOST
}

# start_servers DIR N "ARGV with @PORT": N kernel servers on ports PORT+1.., all ready.
start_servers() {
  local dir=$1 n=$2 argv=$3 j i a
  SPIDS=()
  for ((j = 0; j < n; j++)); do
    read -r -a a <<<"${argv//@PORT/$((PORT + 1 + j))} -w $CL_STEP_TIMEOUT"
    cl_start srv "$dir/srv$j.out" "$dir/srv$j.err" "${a[@]}" -R "$dir/ready$j"
    SPIDS+=("$CL_PID")
  done
  for ((i = 0; i < CL_READY_WAIT * 20; i++)); do
    local all=1
    for ((j = 0; j < n; j++)); do [ -e "$dir/ready$j" ] || all=0; done
    [ $all = 1 ] && return 0
    sleep 0.05
  done
  echo "   servers not ready in $dir" >&2
  return 1
}

# run_multi METRIC TOPO NSRV "SERVER ARGV" NCLI "CLIENT ARGV" KEY: NSRV servers on consecutive
# ports, NCLI clients at once (client J gets @PORT = first port + J, @HOST its address); the
# figure is the sum of KEY over the clients' outputs.
run_multi() {
  local metric=$1 topo=$2 nsrv=$3 srv=$4 ncli=$5 cli=$6 key=$7 dir j a ok=1 sum=0 v cpids=()
  skip "$metric" "$topo" && return
  dir=$WORK/$topo/$metric.$PORT
  mkdir -p "$dir"
  ip -n "$SRV_NS" neigh flush all 2>/dev/null
  local frames0
  frames0=$(cl_tap_frames)
  if start_servers "$dir" "$nsrv" "$srv"; then
    for ((j = 0; j < ncli; j++)); do
      cli_env "$j"
      a=${cli//@PORT/$((PORT + 1 + j))}
      read -r -a a <<<"${a//@HOST/$CHOST} -w $CL_STEP_TIMEOUT"
      cl_start cli "$dir/cli$j.out" "$dir/cli$j.err" "${a[@]}"
      cpids+=("$CL_PID")
    done
    cli_env 0
    for ((j = 0; j < ncli; j++)); do
      cl_wait "${cpids[j]}" $((CL_STEP_TIMEOUT + 10))
      v=$(field "$dir/cli$j.out" "$key")
      if [ "$CL_RC" = 0 ] && [ -n "$v" ]; then sum=$(awk -v a="$sum" -v b="$v" 'BEGIN { print a + b }')
      else ok=0; echo "   client $j: exit $CL_RC" >&2; fi
    done
  else ok=0; fi
  for j in "${SPIDS[@]}"; do
    cl_wait "$j" "$CL_SERVER_GRACE"
    [ "$CL_RC" = 0 ] || { ok=0; echo "   server (pid $j): exit $CL_RC" >&2; }
  done
  PORT=$((PORT + nsrv + 1))
  if [ ${#CL_TAPS[@]} -gt 0 ] && [ $(( $(cl_tap_frames) - frames0 )) -le 0 ]; then
    echo "   no frame through the TAPs" >&2; ok=0
  fi
  if [ $ok = 1 ]; then add "$metric" "$topo" "$sum"
  else
    fail "$metric" "$topo"
    echo "   run failed: $metric in $topo (see $dir)" >&2
    tail -n 2 "$dir"/*.err 2>/dev/null | sed 's/^/     /' >&2
  fi
}

# svc_pid: the PID of the tapstackd serving tap0 in the topology's namespace (empty if none).
svc_pid() {
  ip netns exec "$CLI_NS" ss -Hxlp 2>/dev/null | awk '/@tapstack\.tap0 / { if (match($0, /pid=[0-9]+/)) { print substr($0, RSTART + 4, RLENGTH - 4); exit } }'
}
# Waits (at most 4 s: its idle grace is 2 s) until no tapstackd serves tap0, so the next client
# starts a fresh one.
# A service that stays (its connections in TIME-WAIT for 2 MSL = 60 s after the client closed
# first, as the connection-rate rows leave thousands) is the bench's own: it is stopped by its
# PID with SIGTERM (a clean stop) and waited for once more.
svc_gone() {
  local i pid
  for ((i = 0; i < 40; i++)); do [ -z "$(svc_pid)" ] && return 0; sleep 0.1; done
  pid=$(svc_pid)
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do [ -z "$(svc_pid)" ] && return 0; sleep 0.1; done
  return 1
}

# idle_mem TOPO K: K idle connections (K/IDLE_PORTS per server port); MEM = the stack's memory
# in KiB while they are held (kernel: the client's memory cgroup, processes and kernel sockets;
# tapstack: tapstackd's VmRSS and its keepers'), HELD = connections held.
idle_mem() {
  local topo=$1 k=$2 dir cg="" per i spid pid=""
  MEM=; HELD=
  dir=$WORK/$topo/idle$k.$PORT
  mkdir -p "$dir"
  [ "$topo" = ts ] && { svc_gone || echo "   tapstackd of an earlier run still up" >&2; }
  if [ "$topo" = kk ] && [ -n "$MEMCG" ]; then
    cg=$MEMCG/tapstack-bench-$$-$PORT
    mkdir "$cg" 2>/dev/null || cg=
  fi
  local frames0
  frames0=$(cl_tap_frames)
  per=$((k / IDLE_PORTS)); [ "$per" -lt 1 ] && per=1
  local np=$(( k < IDLE_PORTS ? k : IDLE_PORTS ))
  if start_servers "$dir" "$np" "many_conns server -p @PORT -k $per"; then
    local a=(idle_conns -c "$HOST" -p $((PORT + 1)) -P "$np" -k "$k" -H 2000 -w $((CL_STEP_TIMEOUT - 10)))
    if [ -n "$cg" ]; then
      # The cgroup is joined before `ip netns exec` (which mounts the namespace's own /sys).
      timeout -k 5 "$CL_STEP_TIMEOUT" "$BIN/in_cgroup" "$cg" ip netns exec "$CLI_NS" "$BIN/${a[0]}" "${a[@]:1}" \
        >"$dir/cli.out" 2>"$dir/cli.err" </dev/null &
      CL_PID=$!
      _NETNS_PIDS+=("$CL_PID")
    else
      cl_start cli "$dir/cli.out" "$dir/cli.err" "${a[@]}"
    fi
    local cpid=$CL_PID
    for ((i = 0; i < (CL_STEP_TIMEOUT - 10) * 10; i++)); do
      grep -q '^peak_rss_kb' "$dir/cli.out" 2>/dev/null && break
      kill -0 "$cpid" 2>/dev/null || break
      sleep 0.1
    done
    HELD=$(field "$dir/cli.out" held)
    [ -n "$HELD" ] && case $topo in
      kk) [ -n "$cg" ] && MEM=$(( $(cat "$cg/memory.usage_in_bytes") / 1024 ));;
      ts) pid=$(svc_pid)
          # The service and its keepers (children holding idle connections' pair ends).
          [ -n "$pid" ] && MEM=$(for p in "$pid" $(pgrep -P "$pid"); do cat "/proc/$p/status"; done 2>/dev/null \
            | awk '/^VmRSS:/ { s += $2 } END { if (s) print s }');;
      *) MEM=$(field "$dir/cli.out" rss_kb);;
    esac
    cl_wait "$cpid" $((CL_STEP_TIMEOUT + 10))
  fi
  for spid in "${SPIDS[@]}"; do cl_wait "$spid" "$CL_SERVER_GRACE"; done
  [ -n "$cg" ] && rmdir "$cg" 2>/dev/null
  PORT=$((PORT + IDLE_PORTS + 1))
  if [ ${#CL_TAPS[@]} -gt 0 ] && [ $(( $(cl_tap_frames) - frames0 )) -le 0 ]; then
    echo "   no frame through the TAP" >&2; HELD=; MEM=
  fi
  [ -n "$HELD" ] || echo "   idle connections failed in $topo (see $dir)" >&2
}

idle_run() {
  local t=$1 m1 mn
  skip idle_per_conn "$t" && return
  idle_mem "$t" 1; m1=$MEM
  idle_mem "$t" "$IDLE"; mn=$MEM
  if [ -n "$HELD" ]; then add idle_held "$t" "$HELD"; else fail idle_held "$t"; fi
  if [ -n "$m1" ]; then add idle_mem1 "$t" "$m1"; else fail idle_mem1 "$t"; fi
  if [ -n "$mn" ] && [ -n "$m1" ] && [ "${HELD:-0}" -gt 1 ]; then
    add idle_mem "$t" "$mn"
    add idle_per_conn "$t" "$(awk -v a="$m1" -v b="$mn" -v n="$HELD" 'BEGIN { printf "%.2f", (b - a) / (n - 1) }')"
  else fail idle_mem "$t"; fail idle_per_conn "$t"; fi
}

bench_topo() {
  local t=$1 i setup=$1
  CUR=$t
  echo "== $(col_label "$t") ($(( SECONDS - T_START )) s)"
  [ "$t" = ts ] || [ "$t" = sm ] && setup=tk
  if [ "$t" = sm ] && ! [ -x "$BIN/smolpeer" ]; then return; fi
  if ! topo_setup "$setup"; then
    echo "   topology unavailable (shim not built?)" >&2
    netns_cleanup
    return
  fi
  ip netns exec "$SRV_NS" sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535
  CLI_WRAP=
  case $t in
    sm) CLI_SHIM=0; CLI_WRAP="smolpeer "
        CLI_ENV=(SMOL_TAP=tap0 SMOL_ADDR=10.0.0.2/24 SMOL_GW=10.0.0.1 SMOL_MAC=02:00:00:00:00:02);;
  esac
  BASE_ENV=("${CLI_ENV[@]}")
  local nrep=$RUNS
  row idle && [ "$SLOW_RUNS" -gt "$nrep" ] && nrep=$SLOW_RUNS
  for ((i = 1; i <= nrep; i++)); do
    echo "   run $i/$nrep ($(( SECONDS - T_START )) s)"
    if [ "$i" -le "$RUNS" ]; then
      if row base; then
        run_pair bulk_up "$t" srv mib_per_s "bulk_recv -l -p @PORT -t" "bulk_send -c @HOST -p @PORT -m $MIB -t"
        run_pair bulk_down "$t" cli mib_per_s "bulk_send -l -p @PORT -m $MIB -t" "bulk_recv -c @HOST -p @PORT -t"
        run_pair rtt_median "$t" cli median_us "pingpong server -p @PORT" "pingpong client -c @HOST -p @PORT -n $ROUNDS -t"
        if [ -n "$LAST" ]; then add rtt_p99 "$t" "$(field "$LAST_DIR/cli.out" p99_us)"; else fail rtt_p99 "$t"; fi
        [ "$t" != sm ] && run_pair conn_rate "$t" cli conn_per_s "accept_rate server -p @PORT -t" "accept_rate client -c @HOST -p @PORT -T $CONN_SECS -t"
      fi
      if row loaded; then
        busy_start
        run_pair bulk_up_l "$t" srv mib_per_s "bulk_recv -l -p @PORT -t" "bulk_send -c @HOST -p @PORT -m $MIB -t"
        run_pair bulk_down_l "$t" cli mib_per_s "bulk_send -l -p @PORT -m $MIB -t" "bulk_recv -c @HOST -p @PORT -t"
        run_pair rtt_median_l "$t" cli median_us "pingpong server -p @PORT" "pingpong client -c @HOST -p @PORT -n $ROUNDS -t"
        if [ -n "$LAST" ]; then add rtt_p99_l "$t" "$(field "$LAST_DIR/cli.out" p99_us)"; else fail rtt_p99_l "$t"; fi
        busy_stop
      fi
      if row onecpu; then
        pin_start "$t"
        run_pair bulk_up_1 "$t" srv mib_per_s "bulk_recv -l -p @PORT -t" "bulk_send -c @HOST -p @PORT -m $MIB -t"
        run_pair bulk_down_1 "$t" cli mib_per_s "bulk_send -l -p @PORT -m $MIB -t" "bulk_recv -c @HOST -p @PORT -t"
        run_pair rtt_median_1 "$t" cli median_us "pingpong server -p @PORT" "pingpong client -c @HOST -p @PORT -n $ROUNDS -t"
        if [ -n "$LAST" ]; then add rtt_p99_1 "$t" "$(field "$LAST_DIR/cli.out" p99_us)"; else fail rtt_p99_1 "$t"; fi
        [ "$t" != sm ] && run_pair conn_rate_1 "$t" cli conn_per_s "accept_rate server -p @PORT -t" "accept_rate client -c @HOST -p @PORT -T $CONN_SECS -t"
        pin_stop "$t"
      fi
      if [ "$t" != sm ]; then
        if row streams; then
          run_multi bulk8_up "$t" "$NSTREAMS" "bulk_recv -l -p @PORT -t" 1 "streams -c @HOST -p @PORT -k $NSTREAMS -d up -m $SMIB" mib_per_s
          run_multi bulk8_down "$t" "$NSTREAMS" "bulk_send -l -p @PORT -m $SMIB -t" 1 "streams -c @HOST -p @PORT -k $NSTREAMS -d down -m $SMIB" mib_per_s
        fi
        row conn4 && run_multi conn_rate4 "$t" "$NPROCS" "accept_rate server -p @PORT -t" "$NPROCS" "accept_rate client -c @HOST -p @PORT -T $CONN_SECS -t" conn_per_s
      fi
    fi
    if [ "$i" -le "$SLOW_RUNS" ] && row idle && [ "$t" != sm ]; then idle_run "$t"; fi
  done
  # The device's ceiling (no stack), measured once per run on the tapstack topology's TAP.
  if [ "$t" = ts ] && row tap; then
    # The TAP must be free: end the service this bench started (it stays while its connections
    # are in TIME-WAIT).
    local spid; spid=$(svc_pid); [ -n "$spid" ] && kill "$spid" 2>/dev/null; svc_gone
    for ((i = 1; i <= RUNS; i++)); do
      local out=$WORK/tap_blast.$i
      if timeout 30 ip netns exec "$SRV_NS" "$BIN/tap_blast" -i tap0 -T 1 >"$out" 2>&1; then
        add tap_fps ts "$(field "$out" frames_per_s)"; add tap_mibs ts "$(field "$out" mib_per_s)"
      else fail tap_fps ts; fail tap_mibs ts; fi
    done
  fi
  netns_cleanup
}

for t in "${TOPOS[@]}"; do bench_topo "$t"; done
ELAPSED=$(( SECONDS - T_START ))
report
