#!/usr/bin/env bash
# TLS peers that close without close_notify (issue 11 item 1: a successful call must leave
# errno alone; OpenSSL reads errno after read() returns 0 and a stale EAGAIN makes it retry
# forever at 100% CPU). Through tapstack:
#  1. `openssl s_client` to a kernel `openssl s_server` that dies after sending its data (FIN,
#     no close_notify): s_client prints the data and exits within 3 s.
#  2. a Python ssl client reading a 1 MiB answer to EOF from a kernel server that closes
#     without close_notify: the read loop ends (b"" or SSLEOFError) within 10 s.
#  3. a shimmed Python TLS server whose client leaves without close_notify: the handler's read
#     returns and the handler ends.
# Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
command -v openssl >/dev/null || { echo "FAIL: openssl is not installed (make deps)"; exit 1; }
shim_setup t92
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WORK/k.pem" \
  -out "$WORK/c.pem" -subj /CN=test -days 1 2>/dev/null || { echo "FAIL: cannot make a certificate"; exit 1; }

# 1. s_client / s_server.
mkfifo "$WORK/sin"
netns_bg "$NS" sh -c "exec openssl s_server -accept 10.0.0.1:4433 -cert '$WORK/c.pem' -key '$WORK/k.pem' -naccept 1 -quiet < '$WORK/sin' > '$WORK/s.out' 2>&1"
srv=$NETNS_LAST_PID
exec 7> "$WORK/sin"   # keeps s_server's stdin open
netns_wait_port "$NS" 4433
rx0=$(tap_bytes rx)
t0=$(date +%s%N)
ts 30 openssl s_client -connect 10.0.0.1:4433 -ign_eof -quiet < /dev/null > "$WORK/c.out" 2> "$WORK/c.err" &
cjob=$!
_NETNS_PIDS+=("$cjob")
for _ in $(seq 1 100); do grep -q 'CONNECTION ESTABLISHED\|ACCEPT' "$WORK/s.out" 2>/dev/null && break; in_ns ss -Htn state established '( sport = :4433 )' | grep -q . && break; sleep 0.1; done
sleep 0.5
echo "hello from s_server" >&7
for _ in $(seq 1 100); do grep -q 'hello from s_server' "$WORK/c.out" && break; sleep 0.05; done
grep -q 'hello from s_server' "$WORK/c.out" || { echo "FAIL: s_client got no data"; cat "$WORK/c.err" "$WORK/s.out"; exit 1; }
# s_server's process ends without a TLS shutdown: the kernel sends FIN, no close_notify.
pkill_pid=$(in_ns ss -Htlnp 'sport = :4433' | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2 || true)
[ -n "$pkill_pid" ] || pkill_pid=$(in_ns ss -Htnp state established '( sport = :4433 )' | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)
kill -9 "$pkill_pid" "$srv" 2>/dev/null || true
t1=$(date +%s%N)
rc=0
for _ in $(seq 1 60); do kill -0 "$cjob" 2>/dev/null || break; sleep 0.05; done
ms=$(( ($(date +%s%N) - t1) / 1000000 ))
if kill -0 "$cjob" 2>/dev/null; then
  echo "FAIL: s_client still running ${ms} ms after the server closed without close_notify (spinning?)"
  exit 1
fi
wait "$cjob" || rc=$?
crossed rx 300 "$rx0" "s_client's TLS handshake"
echo "ok: s_client exited ${ms} ms after a close without close_notify (exit $rc)"
exec 7>&-

# 2. Python ssl client reading to EOF.
cat > "$WORK/tls.py" <<'PY'
import os, socket, ssl, sys, time
mode = sys.argv[1]
if mode == "kserver":  # sends 1 MiB, then closes the TCP connection without close_notify
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.0.0.1", 4434)); s.listen(1)
    c, _ = s.accept()
    t = ctx.wrap_socket(c, server_side=True)
    t.sendall(b"z" * (1 << 20))
    time.sleep(0.2)
    os.close(t.detach())
elif mode == "client":  # reads to EOF
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    c = ctx.wrap_socket(socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=20))
    n, t0, how = 0, time.time(), "b''"
    if len(sys.argv) > 4:  # send, then leave without close_notify
        c.sendall(b"q" * int(sys.argv[4])); time.sleep(0.2); os.close(c.detach()); print("left"); sys.exit()
    try:
        while True:
            b = c.recv(65536)
            if not b: break
            n += len(b)
    except ssl.SSLEOFError:
        how = "SSLEOFError"
    print("read %d bytes, end: %s, %.1f s" % (n, how, time.time() - t0))
else:  # sserver: reads to EOF from a client that leaves without close_notify
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.0.0.2", 4435)); s.listen(1)
    print("ready", flush=True)
    c, _ = s.accept()
    t = ctx.wrap_socket(c, server_side=True)
    n, how = 0, "b''"
    try:
        while True:
            b = t.recv(65536)
            if not b: break
            n += len(b)
    except ssl.SSLEOFError:
        how = "SSLEOFError"
    except ConnectionResetError:
        how = "ECONNRESET"
    print("handler read %d bytes, end: %s" % (n, how), flush=True)
PY
netns_bg "$NS" "$PY" "$WORK/tls.py" kserver "$WORK/c.pem" "$WORK/k.pem"
netns_wait_port "$NS" 4434
tx0=$(tap_bytes tx)
out=$(ts 15 "$PY" "$WORK/tls.py" client 10.0.0.1 4434 2>&1) || true
grep -Eq "^read 1048576 bytes, end: (b''|SSLEOFError), [0-9]\.[0-9] s$" <<<"$out" \
  || { echo "FAIL: python ssl client reading to EOF: '$out' (spinning until the timeout?)"; exit 1; }
crossed tx 1048576 "$tx0" "python ssl download"
echo "ok: python ssl client: $out"

# 3. Shimmed Python TLS server, a kernel client that leaves without close_notify.
ts 20 "$PY" "$WORK/tls.py" sserver "$WORK/c.pem" "$WORK/k.pem" > "$WORK/ss.out" 2> "$WORK/ss.err" &
sjob=$!
_NETNS_PIDS+=("$sjob")
netns_wait_grep "$WORK/ss.out" '^ready' 15 || { echo "FAIL: shimmed TLS server"; cat "$WORK/ss.err"; exit 1; }
in_ns timeout 10 "$PY" "$WORK/tls.py" client 10.0.0.2 4435 100000 > /dev/null
t0=$(date +%s%N)
for _ in $(seq 1 100); do kill -0 "$sjob" 2>/dev/null || break; sleep 0.05; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -0 "$sjob" 2>/dev/null && { echo "FAIL: the shimmed TLS server's handler still runs ${ms} ms after its client left (spinning?)"; exit 1; }
grep -Eq "^handler read 100000 bytes, end: (b''|SSLEOFError|ECONNRESET)$" "$WORK/ss.out" \
  || { echo "FAIL: shimmed TLS server: $(cat "$WORK/ss.out")"; cat "$WORK/ss.err"; exit 1; }
echo "ok: shimmed python TLS server: $(tail -n1 "$WORK/ss.out"), ended ${ms} ms after the client left"
