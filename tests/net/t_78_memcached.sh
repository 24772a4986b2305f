#!/usr/bin/env bash
# memcached through tapstack, both ways. Started as root with `-u memcache`, memcached gives up
# root before it makes its first socket: the shim makes sure the service runs (started as root,
# which may open the TAP) before the drop, and the service serves the memcache user's sockets
# (it used to refuse another user's requests: memcached died with "Network is down"). Then a
# kernel memcached serving a shimmed client. The client (python, memcached's text protocol)
# stores 300 values of 1 KB to 50 KB pipelined and reads them back in one multi-get, byte-exact,
# and 8 concurrent connections each send 250 `incr` to one counter: it ends at exactly 2000.
# The server's own stats must count the 300 sets and 2000 increments (every request executed
# once), and the TAP counters prove the bytes crossed tapstack. Kernel side: tap0 10.0.0.1/24;
# tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
command -v memcached >/dev/null || { echo "FAIL: memcached is not installed (make deps)"; exit 1; }
id memcache >/dev/null 2>&1 || { echo "FAIL: no user memcache (the memcached package makes it)"; exit 1; }
shim_setup t78

cat > "$WORK/mc.py" <<'PY'
import socket, sys, os, threading
host, nvals, nconn, nincr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def conn():
    s = socket.create_connection((host, 11211), timeout=20)
    return s, s.makefile("rwb")
def stats(f):
    f.write(b"stats\r\n"); f.flush()
    st = {}
    while True:
        l = f.readline().split()
        if not l or l[0] == b"END":
            return st
        st[l[1].decode()] = l[2].decode()
s, f = conn()
vals = [os.urandom(1000 + (i * 7919) % 50000) for i in range(nvals)]
for i, v in enumerate(vals):  # pipelined: every set before the first answer is read
    f.write(b"set k%d 0 0 %d\r\n" % (i, len(v)) + v + b"\r\n")
f.write(b"set ctr 0 0 1\r\n0\r\n")
f.flush()
for i in range(nvals + 1):
    l = f.readline()
    if l != b"STORED\r\n":
        sys.exit("set %d: %r" % (i, l))
f.write(b"get " + b" ".join(b"k%d" % i for i in range(nvals)) + b"\r\n"); f.flush()
for i in range(nvals):
    l = f.readline().split()
    if len(l) != 4 or l[0] != b"VALUE" or l[1] != b"k%d" % i:
        sys.exit("get %d: %r" % (i, l))
    d = f.read(int(l[3]) + 2)
    if d[:-2] != vals[i]:
        sys.exit("value %d differs (%d bytes, want %d)" % (i, len(d) - 2, len(vals[i])))
if f.readline() != b"END\r\n":
    sys.exit("multi-get did not end")
errs = []
def incr():
    try:
        c, g = conn()
        for _ in range(nincr):
            g.write(b"incr ctr 1\r\n"); g.flush()
            if not g.readline().strip().isdigit():
                errs.append("incr answer")
                return
        c.close()
    except Exception as e:
        errs.append(repr(e))
ts = [threading.Thread(target=incr) for _ in range(nconn)]
for t in ts: t.start()
for t in ts: t.join()
if errs:
    sys.exit("incr: %s" % errs[:3])
f.write(b"get ctr\r\n"); f.flush()
f.readline(); ctr = f.readline().strip().decode(); f.readline()
st = stats(f)
print("ctr=%s cmd_set=%s incr_hits=%s get_hits=%s total_connections=%s" % (
    ctr, st["cmd_set"], st["incr_hits"], st["get_hits"], st["total_connections"]))
PY
MC_OPTS=(-p 11211 -U 0 -t 2 -c 256 -m 64)
# check OUT: the client's summary line has the counts of a run on a fresh server.
check() {
  local want="ctr=2000 cmd_set=301 incr_hits=2000 get_hits=301 "
  case "$1" in
    "$want"*) echo "   $1";;
    *) echo "FAIL: $2: expected '${want}...', got: $1"; exit 1;;
  esac
}

# ---- memcached shimmed (drops root before its first socket), kernel client ----
ts 120 memcached -u memcache -l 10.0.0.2 "${MC_OPTS[@]}" > "$WORK/mc-shim.log" 2>&1 &
mpid=$!
_NETNS_PIDS+=("$mpid")
up=0
for _ in $(seq 100); do
  printf 'version\r\n' | in_ns timeout 1 nc -N 10.0.0.2 11211 2>/dev/null | grep -q '^VERSION' && { up=1; break; }
  kill -0 "$mpid" 2>/dev/null || break
  sleep 0.1
done
[ $up = 1 ] || { echo "FAIL: the shimmed memcached -u memcache does not answer:"; cat "$WORK/mc-shim.log"; exit 1; }
in_ns ss -Hltn 'sport = :11211' | grep -q . && { echo "FAIL: a kernel socket listens on :11211 (memcached is not on tapstack)"; exit 1; }
mc=
for p in $(ip netns pids "$NS"); do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = memcached ] && mc=$p; done
[ -n "$mc" ] || { echo "FAIL: no memcached process in the namespace"; exit 1; }
shimmed_as "$mc" memcache memcached
root_service
echo "   memcached pid $mc runs as memcache with the shim; the service (pid $svc) runs as root"
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
out=$(in_ns timeout 60 "$PY" "$WORK/mc.py" 10.0.0.2 300 8 250) || { echo "FAIL: kernel client of the shimmed memcached: $out"; exit 1; }
check "$out" "shimmed memcached"
crossed rx $((300 * 25000)) "$rx0" "values from the shimmed memcached"
crossed tx $((300 * 25000)) "$tx0" "values to the shimmed memcached"
echo "ok: memcached -u memcache through tapstack served 300 values byte-exact and 2000 increments exactly once"

# ---- kernel memcached, shimmed client ----
netns_bg "$NS" memcached -u memcache -l 10.0.0.1 "${MC_OPTS[@]}"
netns_wait_port "$NS" 11211
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
out=$(ts 60 "$PY" "$WORK/mc.py" 10.0.0.1 300 8 250) || { echo "FAIL: shimmed client of the kernel memcached: $out"; exit 1; }
check "$out" "kernel memcached"
crossed tx $((300 * 25000)) "$tx0" "values from the kernel memcached"
crossed rx $((300 * 25000)) "$rx0" "values to the kernel memcached"
echo "ok: a shimmed client stored and read 300 values byte-exact and sent 2000 increments to a kernel memcached"
