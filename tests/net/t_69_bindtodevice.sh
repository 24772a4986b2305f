#!/usr/bin/env bash
# SO_BINDTODEVICE (found with `curl --interface tap0`, which failed with "bind failed with
# errno 99": tapstack refused the option with ENOPROTOOPT, so curl fell back to binding the
# address the kernel's tap0 has, 10.0.0.1, which is not tapstack's). Now the TAP's name and
# "lo" bind, other names give ENODEV, getsockopt reads the name back: a Python table of
# set/get results prints the same under tapstack as under the kernel, and curl --interface tap0
# (and if!tap0) downloads through tap0. Kernel side: tap0 10.0.0.1/24; tapstack: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
command -v curl >/dev/null || { echo "FAIL: curl is not installed (make deps)"; exit 1; }
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
