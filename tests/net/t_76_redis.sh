#!/usr/bin/env bash
# redis through tapstack, both ways: redis-server shimmed (its own epoll event loop, many clients,
# pipelined requests) serving the kernel's redis-cli and redis-benchmark, then a kernel
# redis-server serving a shimmed redis-cli and redis-benchmark. Every request must be executed
# exactly once: redis-benchmark's INCR on one key leaves the key equal to the number of requests
# (pipelined -P 16 over 16 connections, and -k 0: a new connection per request); a 4 MiB value
# SET and read back by GET is byte-exact (sha256); the server counts no rejected connection; the
# TAP counters prove the traffic went through tapstack. After the load the service sleeps (at
# most 3 % of a CPU over 2 s idle, with redis-server still connected: busy polling stops when
# traffic does). Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
for t in redis-server redis-cli redis-benchmark; do
  command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (make deps)"; exit 1; }
done
shim_setup t76

REDIS_OPTS=(--port 6379 --logfile "$WORK/redis.log" --save '' --appendonly no --protected-mode no --daemonize no --loglevel warning)
# The value: 4 MiB of base64 (redis-cli -x sends stdin as the last argument; GET --raw prints it
# back with a newline).
head -c 3145728 /dev/urandom | base64 -w0 > "$WORK/value"
want=$(sha "$WORK/value")

# value_roundtrip HOST CLI...: SET through one client, GET through the other, byte-exact.
value_roundtrip() {
  local host=$1 how=$2
  if [ "$how" = shim ]; then
    ts 30 redis-cli -h "$host" -x set big < "$WORK/value" > "$WORK/set.out"
    ts 30 redis-cli -h "$host" --raw get big > "$WORK/get.out"
  else
    in_ns timeout 30 redis-cli -h "$host" -x set big < "$WORK/value" > "$WORK/set.out"
    in_ns timeout 30 redis-cli -h "$host" --raw get big > "$WORK/get.out"
  fi
  grep -qx OK "$WORK/set.out" || { echo "FAIL: SET of 4 MiB ($how client): $(head -c 200 "$WORK/set.out")"; exit 1; }
  truncate -s -1 "$WORK/get.out"
  [ "$(sha "$WORK/get.out")" = "$want" ] || {
    echo "FAIL: GET returned $(stat -c %s "$WORK/get.out") bytes that differ from the 4 MiB SET ($how client)"; exit 1; }
  echo "ok: 4 MiB value SET and GET back byte-exact ($how redis-cli, server $host)"
}
# counter HOST: the value of the key redis-benchmark's INCR test increments (kernel redis-cli).
counter() { in_ns timeout 10 redis-cli -h "$1" --raw get 'counter:__rand_int__'; }
# info_field HOST FIELD: a field of the server's INFO.
info_field() { in_ns timeout 10 redis-cli -h "$1" info | tr -d '\r' | awk -F: -v f="$2" '$1 == f { print $2 }'; }
# bench N (kernel|shim) HOST ARGS...: redis-benchmark -t incr, then the counter must have grown
# by exactly N.
bench() {
  local n=$1 how=$2 host=$3 c0 c1; shift 3
  c0=$(counter "$host"); c0=${c0:-0}
  if [ "$how" = shim ]; then
    ts 60 redis-benchmark -h "$host" -q -t incr -n "$n" "$@" > "$WORK/bench.out" 2>&1 || {
      echo "FAIL: shimmed redis-benchmark $* exited $?: $(tail -c 300 "$WORK/bench.out")"; exit 1; }
  else
    in_ns timeout 60 redis-benchmark -h "$host" -q -t incr -n "$n" "$@" > "$WORK/bench.out" 2>&1 || {
      echo "FAIL: redis-benchmark $* exited $?: $(tail -c 300 "$WORK/bench.out")"; exit 1; }
  fi
  c1=$(counter "$host")
  [ "$c1" = $((c0 + n)) ] || {
    echo "FAIL: $n INCR requests ($how redis-benchmark $*) moved the counter from $c0 to $c1"
    tr '\r' '\n' < "$WORK/bench.out" | tail -5; exit 1; }
  echo "ok: $n INCR ($how redis-benchmark $*) all executed once: $(tr '\r' '\n' < "$WORK/bench.out" | grep -o 'INCR: [0-9.]* requests per second' | tail -1)"
}

# ---- redis-server through tapstack, kernel clients ----
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
ts 120 redis-server --bind 10.0.0.2 "${REDIS_OPTS[@]}" > "$WORK/redis-shim.log" 2>&1 &
redis_shim=$!
_NETNS_PIDS+=("$redis_shim")
up=0 end=$((SECONDS + 20))
while [ $SECONDS -lt $end ]; do
  in_ns timeout 1 redis-cli -h 10.0.0.2 ping 2>/dev/null | grep -qx PONG && { up=1; break; }
  sleep 0.1
done
[ $up = 1 ] || { echo "FAIL: shimmed redis-server does not answer"; cat "$WORK/redis-shim.log" "$WORK/redis.log"; exit 1; }
in_ns ss -Hltn 'sport = :6379' | grep -q . && { echo "FAIL: a kernel socket listens on :6379 (redis-server is not on tapstack)"; exit 1; }
value_roundtrip 10.0.0.2 kernel
bench 20000 kernel 10.0.0.2 -c 16 -P 16
bench 1000 kernel 10.0.0.2 -c 8 -k 0
[ "$(info_field 10.0.0.2 rejected_connections)" = 0 ] || { echo "FAIL: the shimmed redis-server rejected connections"; exit 1; }
crossed rx $((3145728 * 4 / 3)) "$rx0" "replies of the shimmed redis-server"
crossed tx $((3145728 * 4 / 3)) "$tx0" "requests to the shimmed redis-server"

HZ=$(getconf CLK_TCK)
svc=$(svc_pid)
[ -n "$svc" ] || { echo "FAIL: no service while redis-server runs"; exit 1; }
sleep 0.2
t0=$(awk '{ print $14 + $15 }' "/proc/$svc/stat"); n0=$(date +%s%N)
sleep 2
t1=$(awk '{ print $14 + $15 }' "/proc/$svc/stat"); n1=$(date +%s%N)
pct=$(( (t1 - t0) * 100 * 1000000000 / HZ / (n1 - n0) ))
[ "$pct" -le 3 ] || { echo "FAIL: the service used ${pct}% of a CPU in 2 s after the load ended"; exit 1; }
echo "ok: after the load the service used ${pct}% of a CPU over 2 s (redis-server still connected)"
# SHUTDOWN through tapstack ends the shimmed server (redis-cli's own status is not the answer:
# the server closes the connection instead of replying).
in_ns timeout 10 redis-cli -h 10.0.0.2 shutdown nosave >/dev/null 2>&1 || echo "   redis-cli: the server closed the connection (SHUTDOWN does)"
for _ in $(seq 100); do kill -0 "$redis_shim" 2>/dev/null || break; sleep 0.1; done
kill -0 "$redis_shim" 2>/dev/null && { echo "FAIL: the shimmed redis-server did not exit on SHUTDOWN"; exit 1; }
echo "ok: SHUTDOWN through tapstack ended the shimmed redis-server"

# ---- kernel redis-server, clients through tapstack ----
netns_bg "$NS" redis-server --bind 10.0.0.1 "${REDIS_OPTS[@]}"
netns_wait_port "$NS" 6379
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
value_roundtrip 10.0.0.1 shim
bench 10000 shim 10.0.0.1 -c 8 -P 16
bench 1000 shim 10.0.0.1 -c 4 -k 0
[ "$(info_field 10.0.0.1 rejected_connections)" = 0 ] || { echo "FAIL: the kernel redis-server rejected connections"; exit 1; }
crossed rx $((3145728 * 4 / 3)) "$rx0" "requests of the shimmed clients"
crossed tx $((3145728 * 4 / 3)) "$tx0" "replies to the shimmed clients"
echo "ok: redis both ways through tapstack"
