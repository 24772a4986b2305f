#!/usr/bin/env bash
# nginx (master + 2 workers, its usual configuration apart from the listen address and paths)
# shimmed, serving `ab -n 5000 -c 50` from the kernel side: 0 failed requests, every response
# complete, and the TAP counters show the traffic (issue 10: workers inherit the listener from
# the master after the stack started). Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
for t in nginx ab curl; do command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (make deps)"; exit 1; }; done
shim_setup t80
chmod 755 "$WORK"
mkdir -p "$WORK/www" "$WORK/tmp" "$WORK/logs"
head -c 10240 /dev/urandom > "$WORK/www/f"
want=$(sha "$WORK/www/f")
chmod -R a+rX "$WORK/www"
cat > "$WORK/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log info;
events { worker_connections 1024; }
http {
    log_format bypid '\$pid \$status \$body_bytes_sent';
    access_log $WORK/logs/access.log bypid;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    server {
        listen 10.0.0.2:8080;
        root $WORK/www;
    }
}
CONF
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
ts 150 nginx -c "$WORK/nginx.conf" -e "$WORK/logs/error.log" > "$WORK/nginx.out" 2>&1 &
npid=$!
_NETNS_PIDS+=("$npid")
ok=0
end=$((SECONDS + 20))
while [ $SECONDS -lt $end ]; do
  if in_ns curl -s --max-time 2 -o "$WORK/first" http://10.0.0.2:8080/f 2>/dev/null; then ok=1; break; fi
  kill -0 "$npid" 2>/dev/null || break
  sleep 0.1
done
[ $ok = 1 ] || { echo "FAIL: nginx under tapstack does not answer"; cat "$WORK/nginx.out" "$WORK/logs/error.log"; exit 1; }
[ "$(sha "$WORK/first")" = "$want" ] || { echo "FAIL: first download differs"; exit 1; }
# master + 2 workers, all shimmed, all alive.
master=$(cat "$WORK/nginx.pid")
workers=$(pgrep -P "$master" | wc -l)
[ "$workers" = 2 ] || { echo "FAIL: nginx master $master has $workers worker(s), expected 2"; exit 1; }
for p in "$master" $(pgrep -P "$master"); do
  grep -q libtapstack_preload "/proc/$p/maps" || { echo "FAIL: nginx process $p runs without the shim"; exit 1; }
done
echo "   nginx master $master with $workers workers, all shimmed"
in_ns ss -Hltn 'sport = :8080' | grep -q . && { echo "FAIL: a kernel socket listens on :8080 (nginx is not on tapstack)"; exit 1; }

in_ns timeout 90 ab -q -n 5000 -c 50 -s 10 http://10.0.0.2:8080/f > "$WORK/ab.out" 2>&1 || {
  echo "FAIL: ab exited $?"; tail -20 "$WORK/ab.out"; tail -20 "$WORK/logs/error.log"; exit 1; }
grep -E 'Complete requests|Failed requests|Non-2xx|Requests per second|Document Length' "$WORK/ab.out" | sed 's/^/   /'
grep -Eq '^Complete requests: +5000$' "$WORK/ab.out" || { echo "FAIL: not 5000 complete requests"; exit 1; }
grep -Eq '^Failed requests: +0$' "$WORK/ab.out" || { echo "FAIL: failed requests"; exit 1; }
grep -q '^Non-2xx' "$WORK/ab.out" && { echo "FAIL: non-2xx responses"; exit 1; }
grep -Eq '^Document Length: +10240 bytes$' "$WORK/ab.out" || { echo "FAIL: wrong document length"; exit 1; }
# 5001 responses of 10 KiB went out through tap0 (the kernel received them: rx).
crossed rx $((5000 * 10240)) "$rx0" "nginx responses"
crossed tx $((5000 * 80)) "$tx0" "ab requests"
# Every request was logged once, by a worker, with status 200 and the whole file.
# A worker logs a request after sending its response, so ab may see the last ones first: wait
# (bounded) for the log to catch up.
for _ in $(seq 1 50); do
  n=$(grep -c ' 200 10240$' "$WORK/logs/access.log" || true)
  [ "$n" -ge 5001 ] && break; sleep 0.1
done
[ "$n" -ge 5001 ] || { echo "FAIL: access log has $n complete 200 responses, expected >= 5001"; exit 1; }
echo "   requests per worker: $(cut -d' ' -f1 "$WORK/logs/access.log" | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')"
for p in $(cut -d' ' -f1 "$WORK/logs/access.log" | sort -u); do
  pgrep -P "$master" | grep -qx "$p" || { echo "FAIL: pid $p in the access log is not a worker of $master"; exit 1; }
done
# The workers are still alive after the load.
[ "$(pgrep -P "$master" | wc -l)" = 2 ] || { echo "FAIL: a worker died under load"; tail -20 "$WORK/logs/error.log"; exit 1; }
grep -E '\[(alert|emerg|crit)\]' "$WORK/logs/error.log" && { echo "FAIL: nginx logged alerts (above)"; exit 1; }
kill -QUIT "$master"
for _ in $(seq 1 100); do kill -0 "$npid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$npid" 2>/dev/null && { echo "FAIL: nginx did not stop on SIGQUIT within 10 s"; exit 1; }
echo "ok: nginx (master + 2 workers) through tapstack served ab -n 5000 -c 50 with 0 failures"
