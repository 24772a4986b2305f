#!/usr/bin/env bash
# PostgreSQL through tapstack, both ways. First a kernel postgres serving shimmed psql and
# pgbench; then postgres itself shimmed, started as root through `setpriv` to its own user (the
# shim starts the service as root before the drop; the service serves the postgres user's
# sockets: a postmaster forking a backend per connection, its latch and epoll waits), serving
# the kernel's psql and pgbench. Each way: a 6.4 MB query result printed by psql equals the one
# the kernel-to-kernel path gives (sha256); pgbench's TPC-B (8 clients, 2 threads) and a
# connection per transaction (-C) finish with no failed transaction, and the server's
# pgbench_history holds exactly one row per transaction (-n: no truncation; each ran once); the TAP counters
# prove the traffic went through tapstack. Kernel side: tap0 10.0.0.1/24; tapstack: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
for t in psql pgbench pg_isready setpriv; do command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (make deps)"; exit 1; }; done
PGBIN=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1 || true)
[ -x "$PGBIN/postgres" ] && [ -x "$PGBIN/initdb" ] || { echo "FAIL: the PostgreSQL server is not installed (make deps)"; exit 1; }
id postgres >/dev/null 2>&1 || { echo "FAIL: no user postgres (the postgresql package makes it)"; exit 1; }
shim_setup t79
chmod 755 "$WORK"
AS=(setpriv --reuid=postgres --regid=postgres --init-groups)
for d in kern shim; do
  mkdir "$WORK/$d"; chown postgres: "$WORK/$d"
  "${AS[@]}" "$PGBIN/initdb" -A trust -U postgres -D "$WORK/$d/data" > "$WORK/initdb-$d.log" 2>&1 || {
    echo "FAIL: initdb"; tail "$WORK/initdb-$d.log"; exit 1; }
  echo "host all all 10.0.0.0/24 trust" >> "$WORK/$d/data/pg_hba.conf"
done
pg_args() { echo "-D $WORK/$1/data -c listen_addresses=$2 -c port=5432 -c unix_socket_directories= -c fsync=off -c max_connections=60"; }
QUERY="select string_agg(md5(i::text), '') from generate_series(1, 200000) i"
# run kernel|shim CMD...: a client on the kernel's stack or through tapstack.
run() { local how=$1; shift; if [ "$how" = shim ]; then ts 120 "$@"; else in_ns timeout 120 "$@"; fi; }
rows() { in_ns timeout 20 psql -h "$1" -U postgres -Atc 'select count(*) from pgbench_history'; }
# exercise HOST kernel|shim: the checks of one direction.
exercise() {
  local host=$1 how=$2 out n0 n1
  run "$how" psql -h "$host" -U postgres -Atc "$QUERY" > "$WORK/q.$how" || { echo "FAIL: $how psql query"; exit 1; }
  [ "$(sha "$WORK/q.$how")" = "$(sha "$WORK/q.ref")" ] && [ "$(stat -c %s "$WORK/q.$how")" -gt 6000000 ] || {
    echo "FAIL: the 6.4 MB result through tapstack ($how psql, server $host) differs from the kernel's"; exit 1; }
  echo "ok: $how psql printed the $(stat -c %s "$WORK/q.$how")-byte result of the kernel's path (server $host)"
  run "$how" pgbench -h "$host" -U postgres -i -s 1 -q postgres > "$WORK/init.$how" 2>&1 || {
    echo "FAIL: $how pgbench -i"; tail "$WORK/init.$how"; exit 1; }
  n0=$(rows "$host")
  out=$(run "$how" pgbench -n -h "$host" -U postgres -c 8 -j 2 -t 200 postgres 2>&1) || { echo "FAIL: $how pgbench: $out"; exit 1; }
  grep -q 'processed: 1600/1600' <<<"$out" && grep -Eq 'failed transactions: 0 ' <<<"$out" || {
    echo "FAIL: $how pgbench -c 8 -t 200:"; echo "$out" | tail -12; exit 1; }
  out=$(run "$how" pgbench -n -h "$host" -U postgres -C -c 4 -j 2 -t 50 postgres 2>&1) || { echo "FAIL: $how pgbench -C: $out"; exit 1; }
  grep -q 'processed: 200/200' <<<"$out" && grep -Eq 'failed transactions: 0 ' <<<"$out" || {
    echo "FAIL: $how pgbench -C -c 4 -t 50:"; echo "$out" | tail -12; exit 1; }
  n1=$(rows "$host")
  [ "$n1" = $((n0 + 1800)) ] || { echo "FAIL: pgbench_history went from $n0 to $n1 rows, expected +1800"; exit 1; }
  echo "ok: $how pgbench: 1800 transactions (200 with a connection each), one history row each (server $host)"
}

# ---- a kernel postgres: the reference result (and the server of the shimmed clients) ----
netns_bg "$NS" "${AS[@]}" "$PGBIN/postgres" $(pg_args kern 10.0.0.1) -c log_min_messages=fatal
netns_wait_port "$NS" 5432
in_ns timeout 60 psql -h 10.0.0.1 -U postgres -Atc "$QUERY" > "$WORK/q.ref"
[ -z "$(svc_pid)" ] || { echo "FAIL: a service runs before the first shimmed program"; exit 1; }
# ---- postgres shimmed, as its own user; kernel clients. No service runs yet: the shim starts
# it (as root) before setpriv gives up root. ----
ts 200 "${AS[@]}" "$PGBIN/postgres" $(pg_args shim 10.0.0.2) > "$WORK/pg-shim.log" 2>&1 &
_NETNS_PIDS+=("$!")
up=0
for _ in $(seq 150); do
  in_ns timeout 2 pg_isready -q -h 10.0.0.2 -U postgres && { up=1; break; }
  grep -q 'FATAL' "$WORK/pg-shim.log" && break
  sleep 0.1
done
[ $up = 1 ] || { echo "FAIL: the shimmed postgres does not answer:"; tail "$WORK/pg-shim.log"; exit 1; }
in_ns ss -Hltn 'src 10.0.0.2' | grep -q ':5432' && { echo "FAIL: a kernel socket listens on 10.0.0.2:5432"; exit 1; }
pm=$(head -n 1 "$WORK/shim/data/postmaster.pid")
shimmed_as "$pm" postgres postgres
root_service
echo "   postgres $pm runs as postgres with the shim; the service it started (pid $svc) runs as root"
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
exercise 10.0.0.2 kernel
crossed rx 6400000 "$rx0" "query result from the shimmed postgres"
crossed tx 100000 "$tx0" "pgbench requests to the shimmed postgres"
grep -E 'FATAL|PANIC' "$WORK/pg-shim.log" | grep -v 'role "root"' && { echo "FAIL: the shimmed postgres logged errors (above)"; exit 1; }
kill -INT "$pm"
for _ in $(seq 100); do kill -0 "$pm" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pm" 2>/dev/null && { echo "FAIL: the shimmed postgres did not stop on SIGINT within 10 s"; exit 1; }
# ---- shimmed clients, kernel postgres ----
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
exercise 10.0.0.1 shim
crossed tx 6400000 "$tx0" "query result to the shimmed psql"
crossed rx 100000 "$rx0" "pgbench requests"
echo "ok: postgres both ways through tapstack"
