#!/usr/bin/env bash
# OpenSSH through tapstack, both ways. Shimmed ssh and scp against a kernel sshd: 8 MB up
# (`ssh host 'cat > f'`, scp) and down (`ssh host cat f`), byte-exact. Then sshd shimmed
# (privilege separation: its pre-authentication child runs as user sshd, the session of a
# non-root login as that user) serving the kernel's ssh: a download as root, and a login as
# nobody with port forwarding, whose connections the session process makes as nobody through
# the service: -L (sshd connects to a kernel echo server) and -R (sshd listens on 10.0.0.2 for
# the kernel's clients). The service used to refuse a non-root user's requests ("connect to
# 10.0.0.1 port 9001 failed: Permission denied", "bind [0.0.0.0]:9104: Permission denied").
# 2 MB through each forward come back byte-exact; the TAP counters prove the bytes crossed
# tapstack. Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
for t in ssh scp ssh-keygen /usr/sbin/sshd; do command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (make deps)"; exit 1; }; done
shim_setup t66
chmod 755 "$WORK"
mkdir -p /run/sshd   # sshd's privilege separation directory (made at boot by its package)
ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/id"
cp "$WORK/id.pub" "$WORK/authkeys"
chmod 644 "$WORK/authkeys"
for side in kern:10.0.0.1 shim:10.0.0.2; do
  cat > "$WORK/sshd_${side%%:*}" <<CONF
ListenAddress ${side#*:}
Port 2222
HostKey $WORK/hostkey
AuthorizedKeysFile $WORK/authkeys
PermitRootLogin yes
PasswordAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
GatewayPorts clientspecified
PidFile $WORK/sshd_${side%%:*}.pid
Subsystem sftp internal-sftp
LogLevel VERBOSE
CONF
done
SSHO=(-i "$WORK/id" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes
      -o LogLevel=ERROR -o ExitOnForwardFailure=yes -o ConnectTimeout=10)
head -c 8000000 /dev/urandom > "$WORK/blob"
want=$(sha "$WORK/blob")
same() { [ -f "$1" ] && [ "$(sha "$1")" = "$want" ] || { echo "FAIL: $2: $1 differs from the 8 MB original"; exit 1; }; echo "ok: $2 byte-exact"; }
write_echo_server "$WORK/echo.py"  # a kernel TCP echo server on 10.0.0.1:9001
cat > "$WORK/echo_client.py" <<'PY'
import os, socket, sys, threading, time
N = 2 << 20
end = time.time() + 15
while True:  # the forward may take a moment to listen (bounded)
    try:
        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
        break
    except OSError:
        if time.time() > end:
            raise
        time.sleep(0.1)
d = os.urandom(N)
t = threading.Thread(target=c.sendall, args=(d,)); t.start()
got = bytearray()
while len(got) < N:
    b = c.recv(65536)
    if not b:
        break
    got += b
t.join()
print("echo ok" if bytes(got) == d else "echo differs: %d of %d bytes" % (len(got), N))
PY
netns_bg "$NS" "$PY" "$WORK/echo.py"
netns_bg "$NS" /usr/sbin/sshd -D -E "$WORK/sshd_kern.log" -f "$WORK/sshd_kern"
netns_wait_port "$NS" 9001
netns_wait_port "$NS" 2222

# ---- shimmed ssh and scp, kernel sshd ----
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
ts 60 ssh "${SSHO[@]}" -p 2222 root@10.0.0.1 "cat > $WORK/up1" < "$WORK/blob"
same "$WORK/up1" "shimmed ssh upload"
ts 60 ssh "${SSHO[@]}" -p 2222 root@10.0.0.1 "cat $WORK/blob" > "$WORK/down1"
same "$WORK/down1" "shimmed ssh download"
ts 60 scp -q "${SSHO[@]}" -P 2222 "$WORK/blob" "root@10.0.0.1:$WORK/up2"
same "$WORK/up2" "shimmed scp upload"
crossed rx $((2 * 8000000)) "$rx0" "uploads of the shimmed ssh and scp"
crossed tx 8000000 "$tx0" "download of the shimmed ssh"

# ---- sshd shimmed, kernel ssh ----
ts 120 /usr/sbin/sshd -D -e -f "$WORK/sshd_shim" > "$WORK/sshd_shim.log" 2>&1 &
_NETNS_PIDS+=("$!")
up=0
for _ in $(seq 100); do
  in_ns timeout 2 bash -c 'exec 3<>/dev/tcp/10.0.0.2/2222 && head -c 4 <&3' 2>/dev/null | grep -q SSH- && { up=1; break; }
  sleep 0.1
done
[ $up = 1 ] || { echo "FAIL: the shimmed sshd does not answer"; cat "$WORK/sshd_shim.log"; exit 1; }
in_ns ss -Hltn 'src 10.0.0.2' | grep -q ':2222' && { echo "FAIL: a kernel socket listens on 10.0.0.2:2222"; exit 1; }
rx0=$(tap_bytes rx)
in_ns timeout 60 ssh "${SSHO[@]}" -p 2222 root@10.0.0.2 "cat $WORK/blob" > "$WORK/down2"
same "$WORK/down2" "download from the shimmed sshd"
crossed rx 8000000 "$rx0" "download from the shimmed sshd"
# A login as nobody (no shell: -N) forwarding both ways.
in_ns timeout 60 ssh "${SSHO[@]}" -p 2222 -N -L 10.0.0.1:9103:10.0.0.1:9001 -R 10.0.0.2:9104:10.0.0.1:9001 \
  nobody@10.0.0.2 2> "$WORK/ssh_fwd.err" &
_NETNS_PIDS+=("$!")
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
out=$(in_ns timeout 30 "$PY" "$WORK/echo_client.py" 10.0.0.1 9103 2>&1) || true
[ "$out" = "echo ok" ] || { echo "FAIL: -L through the shimmed sshd (session of nobody): $out"; cat "$WORK/ssh_fwd.err"; tail "$WORK/sshd_shim.log"; exit 1; }
echo "ok: -L: the session of nobody in the shimmed sshd connected through tapstack, 2 MB echoed byte-exact"
out=$(in_ns timeout 30 "$PY" "$WORK/echo_client.py" 10.0.0.2 9104 2>&1) || true
[ "$out" = "echo ok" ] || { echo "FAIL: -R through the shimmed sshd (session of nobody): $out"; cat "$WORK/ssh_fwd.err"; tail "$WORK/sshd_shim.log"; exit 1; }
echo "ok: -R: the session of nobody in the shimmed sshd listened on 10.0.0.2:9104, 2 MB echoed byte-exact"
# Each forwarded byte crosses tap0 twice each way (ssh channel, and the forwarded connection).
crossed rx $((2 * 2 * 2097152)) "$rx0" "forwarded connections"
crossed tx $((2 * 2 * 2097152)) "$tx0" "forwarded connections"
grep -q 'Accepted publickey for nobody from 10.0.0.1' "$WORK/sshd_shim.log" || { echo "FAIL: the shimmed sshd did not log the login of nobody"; exit 1; }
grep -Ei 'permission denied|failed' "$WORK/sshd_shim.log" "$WORK/ssh_fwd.err" && { echo "FAIL: errors (above)"; exit 1; }
echo "ok: OpenSSH both ways through tapstack, forwarding as a non-root user"
