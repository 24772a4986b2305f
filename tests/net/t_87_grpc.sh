#!/usr/bin/env bash
# python grpcio through tapstack (issue 10: gRPC's C core blocks threads in epoll_wait while
# other threads add sockets; it crashed at its first call). Unary and streaming (server- and
# client-streaming) calls, tapstack as the server with a kernel client, then as the client with
# a kernel server. Generic handlers on raw bytes: no generated code needed.
# Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t87
"$PY" -c 'import grpc' 2>/dev/null || { echo "FAIL: python3 grpcio is not installed (make deps)"; exit 1; }

cat > "$WORK/g.py" <<'PY'
import hashlib, sys, time
from concurrent import futures
import grpc
ident = lambda b: b
def unary(req, ctx):
    return b"echo:" + req
def server_stream(req, ctx):
    n = int(req)
    for i in range(n):
        yield hashlib.sha256(b"%d" % i).digest() * 1024  # 32 KiB each
def client_stream(it, ctx):
    h, n = hashlib.sha256(), 0
    for m in it:
        h.update(m); n += len(m)
    return b"%d %s" % (n, h.hexdigest().encode())
def bidi(it, ctx):
    for m in it:
        yield m[::-1]
handlers = grpc.method_handlers_generic_handler("t.T", {
    "Unary": grpc.unary_unary_rpc_method_handler(unary, ident, ident),
    "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream, ident, ident),
    "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream, ident, ident),
    "Bidi": grpc.stream_stream_rpc_method_handler(bidi, ident, ident),
})
mode, addr = sys.argv[1], sys.argv[2]
if mode == "server":
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    srv.add_generic_rpc_handlers((handlers,))
    port = srv.add_insecure_port(addr)
    srv.start()
    print("ready", port, flush=True)
    srv.wait_for_termination(timeout=float(sys.argv[3]))
    sys.exit(0)
ch = grpc.insecure_channel(addr)
grpc.channel_ready_future(ch).result(timeout=30)
u = ch.unary_unary("/t.T/Unary", ident, ident)
ss = ch.unary_stream("/t.T/ServerStream", ident, ident)
cs = ch.stream_unary("/t.T/ClientStream", ident, ident)
bd = ch.stream_stream("/t.T/Bidi", ident, ident)
ok = []
ok.append(all(u(b"m%d" % i, timeout=20) == b"echo:m%d" % i for i in range(50)))
got = list(ss(b"64", timeout=30))
ok.append(len(got) == 64 and all(g == hashlib.sha256(b"%d" % i).digest() * 1024 for i, g in enumerate(got)))
msgs = [bytes([i]) * 65536 for i in range(64)]
want = b"%d %s" % (sum(map(len, msgs)), hashlib.sha256(b"".join(msgs)).hexdigest().encode())
ok.append(cs(iter(msgs), timeout=30) == want)
words = [b"abc%d" % i for i in range(100)]
ok.append(list(bd(iter(words), timeout=30)) == [w[::-1] for w in words])
print("calls", " ".join("ok" if x else "FAIL" for x in ok))
PY
expect="calls ok ok ok ok"

# 1. tapstack server, kernel client.
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
ts 90 "$PY" "$WORK/g.py" server 10.0.0.2:50051 60 > "$WORK/s1.out" 2> "$WORK/s1.err" &
spid=$!
_NETNS_PIDS+=("$spid")
netns_wait_grep "$WORK/s1.out" '^ready' 20 || { echo "FAIL: shimmed grpc server did not start"; cat "$WORK/s1.err"; exit 1; }
in_ns ss -Hltn 'sport = :50051' | grep -q . && { echo "FAIL: a kernel socket listens on :50051"; exit 1; }
out=$(in_ns timeout 60 "$PY" "$WORK/g.py" client ipv4:10.0.0.2:50051 2>&1) || true
[ "$out" = "$expect" ] || { echo "FAIL: kernel client of the shimmed grpc server: $out"; tail -20 "$WORK/s1.err"; exit 1; }
kill -0 "$spid" 2>/dev/null || { echo "FAIL: the shimmed grpc server died"; tail -20 "$WORK/s1.err"; exit 1; }
crossed rx 2097152 "$rx0" "grpc server streams out"
crossed tx 4194304 "$tx0" "grpc client stream in"
kill "$spid"; wait "$spid" 2>/dev/null || true
echo "ok: grpcio server shimmed: unary, server/client-streaming and bidi calls from a kernel client"

# 2. tapstack client, kernel server.
netns_bg "$NS" "$PY" "$WORK/g.py" server 10.0.0.1:50052 60
for _ in $(seq 1 100); do in_ns ss -Hltn 'sport = :50052' | grep -q . && break; sleep 0.1; done
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
out=$(ts 60 "$PY" "$WORK/g.py" client ipv4:10.0.0.1:50052 2>"$WORK/c2.err") || true
[ "$out" = "$expect" ] || { echo "FAIL: shimmed grpc client: $out"; tail -20 "$WORK/c2.err"; exit 1; }
crossed tx 2097152 "$tx0" "grpc server streams to the shimmed client"
crossed rx 4194304 "$rx0" "grpc client stream from the shimmed client"
echo "ok: grpcio client shimmed: unary, server/client-streaming and bidi calls to a kernel server"
