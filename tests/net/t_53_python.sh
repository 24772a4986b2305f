#!/usr/bin/env bash
# python3 through tapstack: urllib download, socket echo as client and as server.
# Kernel side: TAP tap0 10.0.0.1/24 inside a private namespace. tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t53

head -c 8M /dev/urandom > "$WORK/file"
want=$(sha "$WORK/file")
netns_bg "$NS" "$PY" -m http.server --bind 10.0.0.1 --directory "$WORK" 8000
netns_wait_port "$NS" 8000
tx0=$(tap_bytes tx)
got=$(ts 60 "$PY" -c '
import hashlib, urllib.request
print(hashlib.sha256(urllib.request.urlopen("http://10.0.0.1:8000/file", timeout=30).read()).hexdigest())')
[ "$got" = "$want" ] || { echo "FAIL: urllib: sha256 '$got' != $want"; exit 1; }
crossed tx 8388608 "$tx0" "urllib download"
echo "ok: python3 urllib downloaded 8 MiB through tapstack"

cat > "$WORK/echo_srv.py" <<'EOF'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(4)
c, _ = s.accept()
while True:
    b = c.recv(65536)
    if not b:
        break
    c.sendall(b)
c.close()
EOF
cat > "$WORK/echo_cli.py" <<'EOF'
import os, socket, sys, threading, time
data = os.urandom(2 << 20)
end = time.monotonic() + 30  # the server may still be starting (a busy machine: seconds)
while True:
    try:
        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10); break
    except OSError:
        if time.monotonic() > end:
            raise
        time.sleep(0.1)
c.settimeout(30)
def send():
    c.sendall(data); c.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send); t.start()  # read while sending: buffers are finite
got = bytearray()
while True:
    b = c.recv(65536)
    if not b:
        break
    got += b
t.join()
print("echo ok" if bytes(got) == data else "echo MISMATCH %d/%d" % (len(got), len(data)))
EOF
netns_bg "$NS" "$PY" "$WORK/echo_srv.py" 10.0.0.1 9000
netns_wait_port "$NS" 9000
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
out=$(ts 60 "$PY" "$WORK/echo_cli.py" 10.0.0.1 9000)
[ "$out" = "echo ok" ] || { echo "FAIL: shimmed echo client: $out"; exit 1; }
crossed rx 2097152 "$rx0" "echo client out"; crossed tx 2097152 "$tx0" "echo client back"
echo "ok: shimmed python echo client, 2 MiB round trip with a kernel server"

rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
ts 60 "$PY" "$WORK/echo_srv.py" 10.0.0.2 9001 &
spid=$!
out=$(timeout 60 ip netns exec "$NS" "$PY" "$WORK/echo_cli.py" 10.0.0.2 9001)
rc=0; wait $spid || rc=$?
[ $rc = 0 ] || { echo "FAIL: shimmed echo server exited with $rc"; exit 1; }
[ "$out" = "echo ok" ] || { echo "FAIL: shimmed echo server: $out"; exit 1; }
crossed tx 2097152 "$tx0" "echo server in"; crossed rx 2097152 "$rx0" "echo server out"
echo "ok: shimmed python echo server, 2 MiB round trip with a kernel client"

# asyncio: epoll, non-blocking connect completed through EPOLLOUT + SO_ERROR, non-blocking I/O.
cat > "$WORK/aio.py" <<'EOF'
import asyncio, hashlib, os, sys, time
data = os.urandom(1 << 20)
done = None
async def handle(r, w):
    while True:
        b = await r.read(65536)
        if not b:
            break
        w.write(b); await w.drain()
    w.close()
    await w.wait_closed()  # asyncio's own buffer is flushed before the server may exit
    done.set()
async def client(host, port):
    end = time.monotonic() + 30  # the server may still be starting: refused, or (before its
    while True:                  # stack answers ARP) unreachable or timed out
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
            break
        except (OSError, asyncio.TimeoutError):
            if time.monotonic() > end:
                raise
            await asyncio.sleep(0.2)
    async def send():
        w.write(data); await w.drain(); w.write_eof()
    t = asyncio.ensure_future(send())
    got = await asyncio.wait_for(r.read(-1), 30)
    await t; w.close()
    return got == data
async def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "server":  # serves until one client is done, at most argv[4] seconds
        global done
        done = asyncio.Event()
        srv = await asyncio.start_server(handle, host, port)
        async with srv:
            try:
                await asyncio.wait_for(done.wait(), float(sys.argv[4]))
            except asyncio.TimeoutError:
                pass
    else:
        ok = await client(host, port)
        # refused connection reported as ConnectionRefusedError
        try:
            await asyncio.wait_for(asyncio.open_connection(host, 9), 10); refused = False
        except ConnectionRefusedError:
            refused = True
        print("aio ok" if ok and refused else "aio FAIL echo=%s refused=%s" % (ok, refused))
asyncio.run(main())
EOF
netns_bg "$NS" "$PY" "$WORK/aio.py" server 10.0.0.1 9200 50
netns_wait_port "$NS" 9200
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
out=$(ts 60 "$PY" "$WORK/aio.py" client 10.0.0.1 9200)
[ "$out" = "aio ok" ] || { echo "FAIL: asyncio client through tapstack: $out"; exit 1; }
crossed rx 1048576 "$rx0" "asyncio client out"; crossed tx 1048576 "$tx0" "asyncio client back"
echo "ok: asyncio (epoll) client through tapstack: echo and ConnectionRefusedError"
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
ts 60 "$PY" "$WORK/aio.py" server 10.0.0.2 9201 50 &
spid=$!
out=$(timeout 60 ip netns exec "$NS" "$PY" "$WORK/aio.py" client 10.0.0.2 9201 || true)
kill $spid 2>/dev/null || true; wait $spid 2>/dev/null || true
[ "$out" = "aio ok" ] || { echo "FAIL: asyncio server through tapstack: $out"; exit 1; }
crossed tx 1048576 "$tx0" "asyncio server in"; crossed rx 1048576 "$rx0" "asyncio server out"
echo "ok: asyncio (epoll) server through tapstack, kernel client"
