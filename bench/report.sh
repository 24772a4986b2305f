# The table of bench/run.sh (sourced): `report` turns VAL[metric,topo] (the figures of every
# run) into bench/results/latest.md and latest.json, medians and ratios to the kernel.

# Columns: topology|heading
COLS=("kk|kernel" "ts|tapstack" "sm|smoltcp")
col_label() {
  case $1 in
    kk) echo "kernel client <-> kernel server (veth)";;
    ts) echo "tapstack client (the shared stack, tapstackd) <-> kernel (TAP)";;
    sm) echo "smoltcp client (stack/examples/smolpeer.rs) <-> kernel (TAP)";;
    *) echo "$1";;
  esac
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b }'; }
num() { if [ -n "$1" ]; then echo "$1"; else echo null; fi; }
runs_json() { echo "${1:-}" | xargs | tr ' ' ','; }

report() {
  local loaded="one core kept busy by a CPU-bound process"
  # Metrics in table order: key|label|unit|better
  local metrics=(
    "bulk_up|bulk, client sending ($MIB MiB)|MiB/s|higher"
    "bulk_down|bulk, client receiving ($MIB MiB)|MiB/s|higher"
    "rtt_median|ping-pong RTT median ($ROUNDS rounds)|us|lower"
    "rtt_p99|ping-pong RTT p99 ($ROUNDS rounds)|us|lower"
    "bulk_up_l|loaded: bulk, client sending ($loaded)|MiB/s|higher"
    "bulk_down_l|loaded: bulk, client receiving|MiB/s|higher"
    "rtt_median_l|loaded: ping-pong RTT median|us|lower"
    "rtt_p99_l|loaded: ping-pong RTT p99|us|lower"
    "bulk_up_1|one CPU: bulk, client sending (every process on CPU 0)|MiB/s|higher"
    "bulk_down_1|one CPU: bulk, client receiving|MiB/s|higher"
    "rtt_median_1|one CPU: ping-pong RTT median|us|lower"
    "rtt_p99_1|one CPU: ping-pong RTT p99|us|lower"
    "conn_rate_1|one CPU: connections/s, 1 client process|conn/s|higher"
    "bulk8_up|$NSTREAMS parallel streams, client sending ($NSTREAMS x $SMIB MiB)|MiB/s|higher"
    "bulk8_down|$NSTREAMS parallel streams, client receiving|MiB/s|higher"
    "conn_rate|connections/s, 1 client process (connect + 1-byte req/reply + close, $CONN_SECS s)|conn/s|higher"
    "conn_rate4|connections/s, $NPROCS client processes at once (sum)|conn/s|higher"
    "idle_held|idle connections held (of $IDLE${IDLE_NOTE:+, $IDLE_NOTE}; $IDLE_PORTS server ports)|conns|higher"
    "idle_mem1|stack memory, 1 connection|KiB|lower"
    "idle_mem|stack memory, $IDLE idle connections|KiB|lower"
    "idle_per_conn|memory per idle connection ((mem_N - mem_1) / (N - 1))|KiB|lower"
    "tap_fps|TAP raw ceiling, MTU-sized frames written|frames/s|higher"
    "tap_mibs|TAP raw ceiling, MTU-sized frames written|MiB/s|higher"
  )
  local date cpu machine load md=$WORK/latest.md json=$WORK/latest.json
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
  machine="$(nproc) cores ($cpu), Linux $(uname -r)"
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  local runs_note="median of $RUNS runs"
  [ "$SLOW_RUNS" != "$RUNS" ] && runs_note+=" ($SLOW_RUNS for the idle-connection rows)"
  {
    echo "tapstack bench, $date, $machine; each figure the $runs_note; ${ELAPSED} s; load average at the end $load${QUICK:+; QUICK MODE (small sizes, not comparable)}"
    echo
    echo "Client stacks (the server is always the kernel): kernel = over a veth; tapstack = shimmed client"
    echo "on the shared stack (tapstackd); smoltcp = a smoltcp client (stack/examples/smolpeer.rs) on the"
    echo "same TAP. x/kernel = the ratio to the kernel's figure (higher is better for MiB/s and conn/s,"
    echo "lower for us and KiB)."
    echo
    echo "| workload | unit | kernel | tapstack | tapstack/kernel | smoltcp | smoltcp/kernel |"
    echo "|---|---|---:|---:|---:|---:|---:|"
  } >"$md"
  printf '{\n  "date": "%s",\n  "machine": "%s",\n  "load_average_end": "%s",\n  "runs": %s,\n  "slow_runs": %s,\n  "seconds": %s,\n  "quick": %s,\n  "metrics": [\n' \
    "$date" "$machine" "$load" "$RUNS" "$SLOW_RUNS" "$ELAPSED" "$([ -n "$QUICK" ] && echo true || echo false)" >"$json"
  local first=1 m key label unit better c t h k v r cells jcols
  for m in "${metrics[@]}"; do
    IFS='|' read -r key label unit better <<<"$m"
    local any=
    for c in "${COLS[@]}"; do [ -n "${VAL[$key,${c%%|*}]:-}${FAILS[$key,${c%%|*}]:-}" ] && any=1; done
    [ -n "$any" ] || continue
    k=$(echo "${VAL[$key,kk]:-}" | median)
    cells="| $label | $unit |"
    jcols=""
    for c in "${COLS[@]}"; do
      t=${c%%|*}; h=${c#*|}
      v=$(echo "${VAL[$key,$t]:-}" | median)
      local f=${FAILS[$key,$t]:-0} note=""
      [ "$f" -gt 0 ] && note=" ($f failed)"
      r=""
      if [ "$t" != kk ] && [[ $key != tap_* ]] && [ "$key" != idle_held ]; then r=$(ratio "$v" "$k"); fi
      if [ "$t" = kk ]; then
        [[ $key == tap_* ]] && cells+=" - |" || cells+=" ${v:-n/a}$note |"
      elif [ -z "$v" ] && [ "$f" = 0 ]; then
        cells+=" - | - |"
      else
        cells+=" ${v:-n/a}$note | ${r:--} |"
      fi
      jcols+=$(printf ', "%s": %s, "%s_ratio": %s, "%s_runs": [%s], "%s_failed": %s' \
        "$h" "$(num "$v")" "$h" "$(num "$r")" "$h" "$(runs_json "${VAL[$key,$t]:-}")" "$h" "$f")
    done
    echo "$cells" >>"$md"
    [ $first = 1 ] || printf ',\n' >>"$json"
    first=0
    printf '    {"key": "%s", "label": "%s", "unit": "%s", "better": "%s"%s}' "$key" "$label" "$unit" "$better" "$jcols" >>"$json"
  done
  printf '\n  ]\n}\n' >>"$json"
  {
    echo
    echo "Loaded rows: the same bulk and ping-pong runs while one CPU-bound process (a shell busy loop"
    echo "started by the bench and ended by PID) runs beside them, the same load for every stack."
    echo "One-CPU rows: the same runs with every process (client, server, tapstackd) on CPU 0 (taskset),"
    echo "for every stack alike: on a VM without guest halt-polling, waking a process on an idle vCPU"
    echo "costs tens of microseconds, so the free-running latency rows depend on where the scheduler"
    echo "puts the processes; these rows show the stacks' own costs (bench/PERF.md)."
    echo "Parallel streams: one client process with $NSTREAMS threads, one connection each to its own kernel"
    echo "server (bulk_recv/bulk_send), MiB/s summed from all connected to the last done."
    echo "Connections/s of $NPROCS processes: $NPROCS accept_rate clients at once, each against its own server"
    echo "port, summed (tapstack: all on one tapstackd)."
    echo "Stack memory: kernel = the client's memory cgroup (the process and the kernel memory of its"
    echo "sockets; n/a without a writable v1 memory cgroup); tapstack = the VmRSS of tapstackd and of its"
    echo "keepers, the processes holding idle connections' pair ends beyond its RLIMIT_NOFILE (the"
    echo "socketpairs to the client are kernel memory, not counted); each read while the connections are"
    echo "held idle (bench/src/idle_conns.c, as many processes as RLIMIT_NOFILE needs). smoltcp runs bulk and ping-pong"
    echo "only (no sockets API for the other clients). The TAP ceiling is one writer of 1514-byte frames"
    echo "into the device, no stack."
  } >>"$md"
  echo
  cat "$md"
  echo
  if [ -n "$QUICK" ]; then
    echo "quick mode: bench/results/ left as it was"
  else
    cp "$md" "$RESULTS/latest.md"
    cp "$json" "$RESULTS/latest.json"
    echo "written: bench/results/latest.md, bench/results/latest.json"
  fi
}
