# Topologies and the client/server runner shared by c-tests/compare.sh and bench/run.sh.
# Source scripts/netns-lib.sh first (its EXIT trap removes every namespace and process).
#
# A topology is set up by `topo_setup NAME` and described by variables:
#   SRV_NS / CLI_NS    namespaces of the server and of the client
#   SRV_SHIM / CLI_SHIM  1 when that side runs under the tapstack shim
#   SRV_ENV / CLI_ENV  arrays of VAR=value for that side (TAPSTACK_* for shimmed sides)
#   HOST               the address clients connect to
# Names: kk = kernel<->kernel over a veth pair between two namespaces (the reference);
#        tk = tapstack client, kernel server over a TAP; kt = kernel client, tapstack server;
#        tt = two tapstack processes on two TAPs bridged in one namespace.

CL_ROOT=${CL_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
CL_BIN=$CL_ROOT/c-tests/bin
CL_LIB=${TAPSTACK_LIB:-$CL_ROOT/target/release/libtapstack_preload.so}
CL_LAUNCHER=$CL_ROOT/scripts/tapstack
CL_STEP_TIMEOUT=${CL_STEP_TIMEOUT:-70}   # seconds any one process may run (programs: -w 60)
CL_SERVER_GRACE=${CL_SERVER_GRACE:-15}   # seconds a server may outlive its client
CL_READY_WAIT=${CL_READY_WAIT:-15}       # seconds to wait for a server's ready file

topo_label() {
  case $1 in
    kk) echo "kernel<->kernel";; tk) echo "ts-client<->kernel";;
    kt) echo "kernel<->ts-server";; tt) echo "ts<->ts";; *) echo "$1";;
  esac
}

# True when the shim can be used at all (library built).
cl_shim_available() { [ -f "$CL_LIB" ]; }

# The command prefix that runs a program under the shim. The launcher is the user's path; the
# plain LD_PRELOAD is the fallback while the launcher does not exist.
cl_shim_prefix() {
  if [ -x "$CL_LAUNCHER" ] && [ -z "${CL_NO_LAUNCHER:-}" ]; then
    echo "env TAPSTACK_LIB=$CL_LIB $CL_LAUNCHER"
  else
    echo "env LD_PRELOAD=$CL_LIB"
  fi
}

CL_PIN=()

topo_setup() {
  local t=$1
  SRV_ENV=(); CLI_ENV=(); SRV_SHIM=0; CLI_SHIM=0; CL_TAPS=()
  case $t in
    kk)
      netns_make SRV_NS kks || return 1
      netns_make CLI_NS kkc || return 1
      ip link add vs0 netns "$SRV_NS" type veth peer name vc0 netns "$CLI_NS" || return 1
      ip -n "$SRV_NS" addr add 10.0.0.1/24 dev vs0
      ip -n "$CLI_NS" addr add 10.0.0.2/24 dev vc0
      ip -n "$SRV_NS" link set vs0 up
      ip -n "$CLI_NS" link set vc0 up
      HOST=10.0.0.1;;
    tk|kt)
      netns_make TOPO_NS "$t" || return 1
      netns_tap "$TOPO_NS" tap0 10.0.0.1/24 || return 1
      CL_TAPS=(tap0)
      SRV_NS=$TOPO_NS; CLI_NS=$TOPO_NS
      local shim=(TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_GW=10.0.0.1
                  TAPSTACK_MAC=02:00:00:00:00:02)
      if [ "$t" = tk ]; then CLI_SHIM=1; CLI_ENV=("${shim[@]}"); HOST=10.0.0.1
      else SRV_SHIM=1; SRV_ENV=("${shim[@]}"); HOST=10.0.0.2; fi;;
    tt)
      netns_make TOPO_NS tt || return 1
      ip -n "$TOPO_NS" link add br0 type bridge || return 1
      ip -n "$TOPO_NS" link set br0 up
      local tap
      for tap in tap0 tap1; do
        netns_tap "$TOPO_NS" "$tap" "" || return 1
        ip -n "$TOPO_NS" link set "$tap" master br0 || return 1
      done
      CL_TAPS=(tap0 tap1)
      SRV_NS=$TOPO_NS; CLI_NS=$TOPO_NS; SRV_SHIM=1; CLI_SHIM=1; HOST=10.0.0.2
      SRV_ENV=(TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_GW=none
               TAPSTACK_MAC=02:00:00:00:00:02)
      CLI_ENV=(TAPSTACK_TAP=tap1 TAPSTACK_ADDR=10.0.0.3/24 TAPSTACK_GW=none
               TAPSTACK_MAC=02:00:00:00:00:03);;
    *) echo "unknown topology $t" >&2; return 1;;
  esac
  if { [ "$SRV_SHIM" = 1 ] || [ "$CLI_SHIM" = 1 ]; } && ! cl_shim_available; then
    echo "shim library $CL_LIB not built" >&2
    return 1
  fi
  return 0
}

# cl_start SIDE OUT ERR PROG ARGS...: starts one side (srv|cli) in the background with its
# namespace, environment and shim; PID in CL_PID.
cl_start() {
  local side=$1 out=$2 err=$3; shift 3
  local prog=$1; shift
  local ns shim envs=()
  if [ "$side" = srv ]; then ns=$SRV_NS; shim=$SRV_SHIM; envs=("${SRV_ENV[@]}")
  else ns=$CLI_NS; shim=$CLI_SHIM; envs=("${CLI_ENV[@]}"); fi
  envs+=("${CL_CASE_ENV[@]}")
  local pre=()
  if [ "$shim" = 1 ]; then
    read -r -a pre <<<"$(cl_shim_prefix)"
    # COMPARE_PCAP=1: every shimmed process writes its frames next to its output.
    [ -n "${COMPARE_PCAP:-}" ] && envs+=("TAPSTACK_PCAP=${out%.out}.pcap")
  fi
  # CL_PIN (bench): a prefix such as `taskset -c 0` for every process started, so a tapstackd
  # the shimmed client starts inherits it.
  timeout -k 5 "$CL_STEP_TIMEOUT" ip netns exec "$ns" env "${envs[@]}" "${CL_PIN[@]}" "${pre[@]}" \
    "$CL_BIN/$prog" "$@" >"$out" 2>"$err" </dev/null &
  CL_PID=$!
  _NETNS_PIDS+=("$CL_PID")
}

# Waits for PID (bounded by SECS, then kills it); its exit status (or "killed") in CL_RC.
cl_wait() {
  local pid=$1 secs=$2 i rc
  CL_RC=
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    CL_RC=killed
  else
    wait "$pid"; rc=$?
    CL_RC=$rc
  fi
  local keep=() p
  for p in "${_NETNS_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  _NETNS_PIDS=("${keep[@]}")
}

# Frames the shimmed processes wrote into the topology's TAP devices so far (0 without TAPs).
# A run that is "the same" as the kernel's but never touched a TAP did not go through tapstack.
cl_tap_frames() {
  local tap sum=0 n
  for tap in "${CL_TAPS[@]}"; do
    n=$(ip netns exec "$SRV_NS" cat "/sys/class/net/$tap/statistics/rx_packets" 2>/dev/null || echo 0)
    sum=$((sum + n))
  done
  echo "$sum"
}

# cl_pair DIR "SERVER ARGV" "CLIENT ARGV" [FLAGS]: runs one server/client pair in the current
# topology. @HOST in the client's arguments becomes $HOST. The server gets "-R readyfile" (with
# FLAGS "ready=stdout": it is ready once its stdout has a line containing "ready", for programs
# with their own argument syntax). FLAGS "env=NAME=VALUE" sets a variable for both sides (in
# every topology: the kernel ignores TAPSTACK_*). FLAGS "mask=SED" (last) applies `sed -E SED`
# to the compared text, for counts that legitimately vary (retransmissions). Writes DIR/out (the
# compared text: exit statuses and both stdouts), DIR/srv.err and DIR/cli.err.
CL_CASE_ENV=()
CL_PREV_ENV=0
cl_pair() {
  local dir=$1 srv=$2 cli=$3 flags=${4:-}
  local stdout_ready=0 mask="" tap
  [[ $flags == *ready=stdout* ]] && stdout_ready=1
  CL_CASE_ENV=()
  [[ $flags =~ (^|[ ,])env=([A-Z_]+=[^ ,]*) ]] && CL_CASE_ENV=("${BASH_REMATCH[2]}")
  # TAPSTACK_* settings (TAPSTACK_GW...) belong to the TAP's shared service, which outlives a
  # case by its idle grace: a case with its own settings, and the case after it, wait until the
  # service before them is gone, so that they start one with their own (svc_idle, bounded).
  if [ ${#CL_CASE_ENV[@]} -gt 0 ] || [ "$CL_PREV_ENV" = 1 ]; then
    for tap in "${CL_TAPS[@]}"; do ( svc_idle "$SRV_NS" "$tap" ) || true; done
  fi
  CL_PREV_ENV=$(( ${#CL_CASE_ENV[@]} > 0 ))
  [[ $flags == *mask=* ]] && mask=${flags#*mask=}
  mkdir -p "$dir"
  local ready=$dir/ready
  rm -f "$ready"
  ip -n "$SRV_NS" neigh flush all 2>/dev/null
  ip -n "$CLI_NS" neigh flush all 2>/dev/null
  local sargv cargv
  read -r -a sargv <<<"$srv"
  read -r -a cargv <<<"${cli//@HOST/$HOST}"
  local frames0
  frames0=$(cl_tap_frames)
  if [ $stdout_ready = 1 ]; then
    cl_start srv "$dir/srv.out" "$dir/srv.err" "${sargv[@]}"
  else
    cl_start srv "$dir/srv.out" "$dir/srv.err" "${sargv[@]}" -R "$ready"
  fi
  local spid=$CL_PID i src crc t0=$EPOCHREALTIME tc=""
  for ((i = 0; i < CL_READY_WAIT * 20; i++)); do
    [ $stdout_ready = 1 ] && grep -q ready "$dir/srv.out" 2>/dev/null && : >"$ready"
    [ -e "$ready" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -e "$ready" ]; then
    cl_start cli "$dir/cli.out" "$dir/cli.err" "${cargv[@]}"
    cl_wait "$CL_PID" $((CL_STEP_TIMEOUT + 10)); crc=$CL_RC
    tc=$EPOCHREALTIME
    cl_wait "$spid" "$CL_SERVER_GRACE"; src=$CL_RC
  else
    crc="not started (server not ready)"
    : >"$dir/cli.out"; : >"$dir/cli.err"
    cl_wait "$spid" 1; src=$CL_RC
  fi
  {
    echo "--- server exit $src"
    cat "$dir/srv.out"
    echo "--- client exit $crc"
    cat "$dir/cli.out"
  } >"$dir/out"
  if [ -n "$mask" ]; then sed -E -i "$mask" "$dir/out"; fi
  CL_TAP_FRAMES=$(( $(cl_tap_frames) - frames0 ))
  # Wall times (diagnostics only, never compared): client exit, server exit after start.
  CL_TIMES=$(awk -v a="$t0" -v c="${tc:-$t0}" -v e="$EPOCHREALTIME" \
    'BEGIN { printf "client %.1fs, server %.1fs", c - a, e - a }')
  [ "$src" = 0 ] && [ "$crc" = 0 ]
}
