#!/usr/bin/env bash
# Programs that bind to an interface by its name, found trying real programs:
# - SO_BINDTODEVICE (`curl --interface tap0` failed with "bind failed with errno 99": tapstack
#   refused the option with ENOPROTOOPT, so curl fell back to binding the address the kernel's
#   tap0 has, 10.0.0.1, which is not tapstack's). Now the TAP's name and "lo" bind, other names
#   give ENODEV, getsockopt reads the name back: a Python table of set/get results prints the
#   same under tapstack as under the kernel, and curl --interface tap0 (and if!tap0) downloads
#   through tap0.
# - getifaddrs (`ssh -B tap0`, OpenSSH's BindInterface, binds the address getifaddrs gives for
#   tap0: the kernel's 10.0.0.1, EADDRNOTAVAIL under tapstack). The shim now shows tapstack's
#   address on the TAP: `hostname -I` says 10.0.0.2 under tapstack (10.0.0.1 under the kernel)
#   and ssh -B tap0 logs in to a kernel sshd from 10.0.0.2.
# Kernel side: tap0 10.0.0.1/24; tapstack: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
for t in curl ssh ssh-keygen /usr/sbin/sshd hostname; do command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (make deps)"; exit 1; }; done
shim_setup t69
cat > "$WORK/table.py" <<'PY'
import errno, socket
for name in [b"tap0", b"tap0\0x", b"lo", b"nosuch", b"", b"eth0"]:
    for typ in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, typ)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, name); r = "ok"
        except OSError as e:
            r = errno.errorcode[e.errno]
        print(name, typ, r, s.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16))
        s.close()
PY
in_ns "$PY" "$WORK/table.py" > "$WORK/kernel.out"
ts 20 "$PY" "$WORK/table.py" > "$WORK/tapstack.out"
diff "$WORK/kernel.out" "$WORK/tapstack.out" > "$WORK/diff" || { echo "FAIL: SO_BINDTODEVICE differs from the kernel's (< kernel, > tapstack):"; cat "$WORK/diff"; exit 1; }
grep -q "b'tap0' 1 ok b'tap0\\\\x00'" "$WORK/kernel.out" || { echo "FAIL: the kernel's table is not as expected:"; cat "$WORK/kernel.out"; exit 1; }
echo "ok: SO_BINDTODEVICE set/get table identical to the kernel's ($(wc -l < "$WORK/kernel.out") cases)"

mkdir -p "$WORK/www"; head -c 200000 /dev/urandom > "$WORK/www/f"
netns_bg "$NS" "$PY" -m http.server --bind 10.0.0.1 8069 --directory "$WORK/www" > /dev/null 2>&1
netns_wait_port "$NS" 8069
for itf in tap0 'if!tap0'; do
  rx0=$(tap_bytes tx)
  ts 20 curl -sS --fail --interface "$itf" -o "$WORK/got" http://10.0.0.1:8069/f \
    || { echo "FAIL: curl --interface $itf under tapstack"; exit 1; }
  cmp -s "$WORK/got" "$WORK/www/f" || { echo "FAIL: curl --interface $itf: wrong body"; exit 1; }
  crossed tx 200000 "$rx0" "curl --interface $itf"
  echo "ok: curl --interface $itf downloads through tapstack"
done

# getifaddrs: the TAP's address is tapstack's.
[ "$(in_ns hostname -I | tr -d ' ')" = 10.0.0.1 ] || { echo "FAIL: the kernel's hostname -I: $(in_ns hostname -I)"; exit 1; }
got=$(ts 10 hostname -I | tr -d ' ')
[ "$got" = 10.0.0.2 ] || { echo "FAIL: hostname -I under tapstack says '$got', expected 10.0.0.2"; exit 1; }
echo "ok: hostname -I (getifaddrs) under tapstack: $got"
mkdir -p /run/sshd   # sshd's privilege separation directory (made at boot by its package)
ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/id"
cp "$WORK/id.pub" "$WORK/authkeys"; chmod 644 "$WORK/authkeys"; chmod 755 "$WORK"
cat > "$WORK/sshd" <<CONF
ListenAddress 10.0.0.1
Port 2269
HostKey $WORK/hostkey
AuthorizedKeysFile $WORK/authkeys
PermitRootLogin yes
PasswordAuthentication no
UsePAM no
StrictModes no
PidFile $WORK/sshd.pid
CONF
netns_bg "$NS" /usr/sbin/sshd -D -E "$WORK/sshd.log" -f "$WORK/sshd"
netns_wait_port "$NS" 2269
rx0=$(tap_bytes rx)
got=$(ts 30 ssh -i "$WORK/id" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
  -o LogLevel=ERROR -p 2269 -B tap0 root@10.0.0.1 'echo $SSH_CLIENT' 2> "$WORK/ssh.err") \
  || { echo "FAIL: ssh -B tap0 under tapstack:"; cat "$WORK/ssh.err"; exit 1; }
[ "${got%% *}" = 10.0.0.2 ] || { echo "FAIL: ssh -B tap0: sshd saw the client as '$got'"; exit 1; }
crossed rx 1000 "$rx0" "ssh -B tap0"
echo "ok: ssh -B tap0 (BindInterface, getifaddrs) logs in from 10.0.0.2 through tapstack"
