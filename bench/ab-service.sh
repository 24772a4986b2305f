#!/usr/bin/env bash
# Interleaved A/B of builds on the tk topology (shimmed client over a TAP, kernel server), for
# tuning the shared service (tapstackd) of one build against another's. Each round runs every variant once
# per workload, one after the other, so the machine's drift hits them alike; prints every
# figure and the medians. Only measures; every process runs under `timeout`.
#
# Usage: bench/ab-service.sh [-r ROUNDS] [-w "conn conn4 up down pp s8up s8down"] VARIANT...
#   VARIANT = NAME=DIR, DIR holding libtapstack_preload.so and tapstackd (a build). Ratios are
#   to the last variant. Example: bench/ab-service.sh new=target/release base=/tmp/base
# Environment: AB_CONN_SECS (3), AB_MIB (256), AB_STREAM_MIB (128 per stream, s8up/s8down), AB_ROUNDS_PP (10000), AB_LOAD=1 (one CPU-bound
# shell loop runs beside every run, as make bench's loaded rows; bounded, ended by PID),
# AB_SPAWNED=1 (no service started here: the client's shim starts it, as in make bench),
# AB_IDLE=1 / AB_CPU=1 (print the machine's idle share / busy CPU seconds and the service's).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source scripts/netns-lib.sh
source c-tests/compare-lib.sh
netns_require_root
make -s -C c-tests >/dev/null || exit 1
ROUNDS=5
WL="conn up pp"
while getopts "r:w:" o; do
  case $o in
    r) ROUNDS=$OPTARG;;
    w) WL=$OPTARG;;
    *) exit 2;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: bench/ab-service.sh [-r N] [-w WORKLOADS] NAME=DIR..." >&2; exit 2; }
SECS=${AB_CONN_SECS:-3}
MIB=${AB_MIB:-256}
PPN=${AB_ROUNDS_PP:-10000}
topo_setup tk || exit 1
WORK=$(mktemp -d /tmp/ab-service.XXXXXX)
_NETNS_TMP+=("$WORK")   # removed by netns-lib's EXIT trap
declare -A V
PORT=7400
SMIB=${AB_STREAM_MIB:-128}
cc -std=gnu11 -O2 -Wall -Wextra -Werror -pthread -o "$WORK/streams" bench/src/streams.c || exit 1

# one VARIANT WORKLOAD: one run; appends the figure to V[name,workload].
one() {
  local name=${1%%=*} w=$2 dir srv cli key side svc=""
  dir=$(cd "${1#*=}" && pwd)
  PORT=$((PORT + 10))
  case $w in
    conn) srv="accept_rate server -p $PORT -t"; cli="accept_rate client -c 10.0.0.1 -p $PORT -T $SECS -t"
          key=conn_per_s; side=cli;;
    conn4) srv="accept_rate server -p @PORT -t"; cli="accept_rate client -c 10.0.0.1 -p @PORT -T $SECS -t"
          key=conn_per_s; side=cli;;
    up) srv="bulk_recv -l -p $PORT -t"; cli="bulk_send -c 10.0.0.1 -p $PORT -m $MIB -t"; key=mib_per_s; side=srv;;
    down) srv="bulk_send -l -p $PORT -m $MIB -t"; cli="bulk_recv -c 10.0.0.1 -p $PORT -t"; key=mib_per_s; side=cli;;
    pp) srv="pingpong server -p $PORT"; cli="pingpong client -c 10.0.0.1 -p $PORT -n $PPN -t"; key=median_us; side=cli;;
    s8up) srv="bulk_recv -l -p @PORT -t"; cli="streams -c 10.0.0.1 -p $PORT -k 8 -d up -m $SMIB"; key=mib_per_s; side=cli;;
    s8down) srv="bulk_send -l -p @PORT -m $SMIB -t"; cli="streams -c 10.0.0.1 -p $PORT -k 8 -d down -m $SMIB"
            key=mib_per_s; side=cli;;
  esac
  local nsrv=1
  case $w in s8*) nsrv=8;; conn4) nsrv=4;; esac
  local env=(TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_GW=10.0.0.1 TAPSTACK_MAC=02:00:00:00:00:02)
  # This build's service, started here (and ended by its PID after the run).
  env+=(TAPSTACK_SERVICE="$dir/tapstackd")
  local i
  if [ "${AB_SPAWNED:-0}" != 1 ]; then
    ip netns exec "$TOPO_NS" env "${env[@]}" timeout 120 "$dir/tapstackd" --persist >"$WORK/svc.log" 2>&1 &
    svc=$!
    for ((i = 0; i < 100; i++)); do
      ip netns exec "$TOPO_NS" ss -xl 2>/dev/null | grep -q "@tapstack\.tap0 " && break
      sleep 0.02
    done
  fi
  read -r -a cargv <<<"$cli"
  local spids=() i k
  for ((k = 0; k < nsrv; k++)); do
    rm -f "$WORK/ready$k"
    read -r -a sargv <<<"${srv//@PORT/$((PORT + k))}"
    timeout 120 ip netns exec "$TOPO_NS" "$CL_BIN/${sargv[0]}" "${sargv[@]:1}" -R "$WORK/ready$k" -w 100 \
      >"$WORK/srv$k.out" 2>&1 &
    spids+=($!)
    for ((i = 0; i < 200; i++)); do [ -e "$WORK/ready$k" ] && break; sleep 0.02; done
  done
  cp "$WORK/srv0.out" "$WORK/srv.out" 2>/dev/null
  local hog="" ccmd="$CL_BIN/${cargv[0]}"
  [ "${cargv[0]}" = streams ] && ccmd="$WORK/streams"
  if [ "${AB_LOAD:-0}" = 1 ]; then
    timeout -k 2 130 bash -c 'while :; do :; done' &
    hog=$!
    sleep 0.2
  fi
  local stat0 ctxt0
  stat0=$(head -1 /proc/stat)
  ctxt0=$(awk '$1 == "ctxt" { print $2 }' /proc/stat)
  if [ "$w" = conn4 ]; then
    # Four client processes at once, one per server; the figure is their sum.
    local cpids=()
    for ((k = 0; k < nsrv; k++)); do
      read -r -a cargv <<<"${cli//@PORT/$((PORT + k))}"
      timeout 120 ip netns exec "$TOPO_NS" env "${env[@]}" LD_PRELOAD="$dir/libtapstack_preload.so" \
        "$ccmd" "${cargv[@]:1}" >"$WORK/cli$k.out" 2>&1 &
      cpids+=($!)
    done
    wait "${cpids[@]}"
    awk '$1 == "conn_per_s" { s += $2; n++ } END { if (n == 4) print "conn_per_s", s }' "$WORK"/cli[0-3].out >"$WORK/cli.out"
  else
  timeout 120 ip netns exec "$TOPO_NS" env "${env[@]}" LD_PRELOAD="$dir/libtapstack_preload.so" \
    "$ccmd" "${cargv[@]:1}" $([ "$nsrv" = 1 ] && echo "-w 100") >"$WORK/cli.out" 2>&1
  fi
  # The machine's idle share while the client ran (AB_IDLE=1): a second service thread can only
  # gain where there is some.
  if [ "${AB_IDLE:-0}" = 1 ]; then
    printf '%s\n%s\n' "$stat0" "$(head -1 /proc/stat)" |
      awk '{ t = 0; for (i = 2; i <= NF; i++) t += $i; T[NR] = t; I[NR] = $5 + $6 }
           END { printf "  idle %.0f %%\n", 100 * (I[2] - I[1]) / (T[2] - T[1]) }'
  fi
  # CPU time while the client ran (AB_CPU=1): the machine's busy seconds and the service's own
  # (utime + stime so far), steadier than the rates for a change that saves work per byte.
  local cpu=""
  if [ "${AB_CPU:-0}" = 1 ]; then
    local spid sticks=0
    spid=$(pgrep -f "^$dir/tapstackd" | head -1)
    [ -n "$spid" ] && sticks=$(awk '{ print $14 + $15 }' "/proc/$spid/stat" 2>/dev/null)
    cpu=$(printf '%s\n%s\n' "$stat0" "$(head -1 /proc/stat)" |
      awk -v s="${sticks:-0}" '{ t = 0; for (i = 2; i <= NF; i++) t += $i; B[NR] = t - $5 - $6 }
           END { printf "  cpu %.2f s, service %.2f s, ", (B[2] - B[1]) / 100, s / 100 }')
    cpu+=$(awk -v c0="$ctxt0" '$1 == "ctxt" { printf "%d context switches", $2 - c0 }' /proc/stat)
  fi
  wait "${spids[@]}"
  cp "$WORK/srv0.out" "$WORK/srv.out" 2>/dev/null
  if [ -n "$hog" ]; then kill "$hog" 2>/dev/null; wait "$hog" 2>/dev/null; fi
  if [ -n "$svc" ]; then kill "$svc" 2>/dev/null; wait "$svc" 2>/dev/null; fi
  if [ "${AB_SPAWNED:-0}" = 1 ]; then
    # The service the client started: this variant's binary, ended by PID before the next run
    # (another variant's client would attach to it).
    for p in $(pgrep -f "^$dir/tapstackd"); do kill "$p" 2>/dev/null; done
    for ((i = 0; i < 50; i++)); do pgrep -f "^$dir/tapstackd" >/dev/null || break; sleep 0.05; done
  fi
  local v
  v=$(awk -v k="$key" '$1 == k { print $2; exit }' "$WORK/$side.out")
  [ "$w" = pp ] && v="$v/$(awk '$1 == "p99_us" { print $2; exit }' "$WORK/cli.out")"
  printf '%-10s %-5s %s\n' "$name" "$w" "${v:-FAILED}"
  [ -n "$cpu" ] && echo "$cpu"
  V[$name,$w]="${V[$name,$w]:-} ${v:-}"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

for ((r = 1; r <= ROUNDS; r++)); do
  for w in $WL; do
    for v in "$@"; do one "$v" "$w"; done
  done
done
echo "== medians of $ROUNDS rounds (ratio: the median of each round's ratio to the last variant)"
for w in $WL; do
  for v in "$@"; do
    n=${v%%=*}
    last=${!#}; last=${last%%=*}
    # ratios COLUMN: this variant's figure over the last variant's, round by round.
    ratios() {
      paste -d' ' <(echo "${V[$n,$w]}" | tr ' ' '\n' | grep -v '^$' | cut -d/ -f"$1") \
        <(echo "${V[$last,$w]}" | tr ' ' '\n' | grep -v '^$' | cut -d/ -f"$1") |
        awk '$1 != "" && $2 > 0 { printf "%.3f ", $1 / $2 }' | median
    }
    if [ "$w" = pp ]; then
      med=$(echo "${V[$n,$w]}" | tr ' ' '\n' | cut -d/ -f1 | tr '\n' ' ' | median)
      p99=$(echo "${V[$n,$w]}" | tr ' ' '\n' | grep / | cut -d/ -f2 | tr '\n' ' ' | median)
      printf '%-10s %-5s median_us %s (ratio %s) p99_us %s (ratio %s)\n' "$n" "$w" "$med" "$(ratios 1)" "$p99" "$(ratios 2)"
    else
      printf '%-10s %-5s %s (ratio %s)\n' "$n" "$w" "$(echo "${V[$n,$w]}" | median)" "$(ratios 1)"
    fi
  done
done
