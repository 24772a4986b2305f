#!/usr/bin/env bash
# FTP through tapstack, passive and active mode, both ways. vsftpd in its default isolation:
# each session is a child made by a raw clone(CLONE_NEWIPC) system call (no atfork handler
# runs: the shim's descriptor table used to keep the closed listener's number, and the
# session's next socketpair read ENOTCONN: "500 OOPS: priv_sock_get_cmd"), whose unprivileged
# half runs in a network namespace of its own (clone(CLONE_NEWNET), where no service answers:
# the shim used to try to start one and wrote its error to the client's connection), and whose
# privileged half opens the data connections: it listens for PASV and, for PORT, binds port 20
# and connects back to the client. Each way, python's ftplib downloads a 3 MB file in passive
# and in active mode (byte-exact; in active mode the data connection comes from port 20 of the
# server) and lists the directory; vsftpd's log counts every download as complete, and the TAP
# counters prove the bytes crossed tapstack. Kernel side: tap0 10.0.0.1/24; tapstack: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
command -v vsftpd >/dev/null || { echo "FAIL: vsftpd is not installed (make deps)"; exit 1; }
id ftp >/dev/null 2>&1 || { echo "FAIL: no user ftp (the vsftpd package makes it)"; exit 1; }
shim_setup t97
chmod 755 "$WORK"
mkdir -p "$WORK/pub" "$WORK/empty"
head -c 3000000 /dev/urandom > "$WORK/pub/blob"
chmod -R a+rX "$WORK/pub"
want=$(sha "$WORK/pub/blob" | cut -c1-16)
# conf NAME ADDR: vsftpd's defaults (isolate=YES, isolate_network=YES) plus anonymous
# downloads from $WORK/pub on ADDR:2121, the data connections of active mode from port 20.
conf() {
  cat > "$WORK/$1.conf" <<CONF
listen=YES
listen_address=$2
listen_port=2121
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$WORK/pub
write_enable=NO
connect_from_port_20=YES
secure_chroot_dir=$WORK/empty
xferlog_enable=YES
vsftpd_log_file=$WORK/$1.log
CONF
}
conf kern 10.0.0.1; conf shim 10.0.0.2
cat > "$WORK/ftp.py" <<'PY'
import ftplib, hashlib, sys
host, mode = sys.argv[1], sys.argv[2]
class F(ftplib.FTP):
    def ntransfercmd(self, cmd, rest=None):  # records where each data connection comes from
        conn, size = super().ntransfercmd(cmd, rest)
        self.data_peer = conn.getpeername()[:2]
        return conn, size
f = F()
f.connect(host, 2121, timeout=20)
f.login()
f.set_pasv(mode == "pasv")
buf = bytearray()
f.retrbinary("RETR blob", buf.extend)
peer = f.data_peer
names = f.nlst()
f.quit()
print("%s %d %s data-from=%s:%d list=%s" % (mode, len(buf), hashlib.sha256(buf).hexdigest()[:16], peer[0], peer[1], ",".join(names)))
PY
# get HOW HOST MODE: one session; its line must show the whole file, the data connection's
# origin (active: the server's port 20) and the listing.
get() {
  local how=$1 host=$2 mode=$3 out
  if [ "$how" = shim ]; then out=$(ts 60 "$PY" "$WORK/ftp.py" "$host" "$mode" 2>&1) || true
  else out=$(in_ns timeout 60 "$PY" "$WORK/ftp.py" "$host" "$mode" 2>&1) || true; fi
  local from="$host:[0-9]+"; [ "$mode" = active ] && from="$host:20"
  [[ "$out" =~ ^$mode\ 3000000\ $want\ data-from=$from\ list=blob$ ]] || {
    echo "FAIL: $how ftp client, server $host, $mode mode:"; echo "$out" | tail -5; exit 1; }
  echo "ok: $how client, $mode mode: 3000000 bytes byte-exact, data connection from ${out##*data-from=}"
}
# downloads LOG N: vsftpd logged N complete downloads of the file.
downloads() {
  local n
  n=$(grep -c 'OK DOWNLOAD: .*"/blob", 3000000 bytes' "$1" || true)
  [ "$n" = "$2" ] || { echo "FAIL: $1 logs $n complete downloads, expected $2"; tail -5 "$1"; exit 1; }
}

# ---- shimmed client, kernel vsftpd ----
netns_bg "$NS" vsftpd "$WORK/kern.conf"
netns_wait_port "$NS" 2121
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
get shim 10.0.0.1 pasv
get shim 10.0.0.1 active
downloads "$WORK/kern.log" 2
crossed tx $((2 * 3000000)) "$tx0" "downloads from the kernel vsftpd"

# ---- vsftpd shimmed, kernel client ----
ts 120 vsftpd "$WORK/shim.conf" > "$WORK/shim.out" 2>&1 &
_NETNS_PIDS+=("$!")
up=0
for _ in $(seq 100); do
  in_ns timeout 2 "$PY" -c 'import ftplib; f = ftplib.FTP(); f.connect("10.0.0.2", 2121, timeout=2); f.close()' 2>/dev/null && { up=1; break; }
  sleep 0.1
done
[ $up = 1 ] || { echo "FAIL: the shimmed vsftpd does not answer"; cat "$WORK/shim.out"; exit 1; }
in_ns ss -Hltn 'src 10.0.0.2' | grep -q ':2121' && { echo "FAIL: a kernel socket listens on 10.0.0.2:2121"; exit 1; }
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
get kernel 10.0.0.2 pasv
get kernel 10.0.0.2 active
downloads "$WORK/shim.log" 2
crossed rx $((2 * 3000000)) "$rx0" "downloads from the shimmed vsftpd"
[ -s "$WORK/shim.out" ] && { echo "FAIL: the shimmed vsftpd wrote:"; cat "$WORK/shim.out"; exit 1; }
echo "ok: FTP through tapstack both ways, passive and active mode"
