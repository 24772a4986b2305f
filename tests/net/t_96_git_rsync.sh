#!/usr/bin/env bash
# Daemons that hand the accepted connection to a child: `git daemon` forks and execs
# git-upload-pack / git-receive-pack with the socket as their stdin and stdout, `rsync --daemon`
# forks a child per connection that talks rsync's own protocol on it. Both ways: shimmed git and
# rsync clients against kernel daemons (clone, push, pull, push, a delta transfer after a 1 KiB
# change), then shimmed daemons serving kernel clients. Every transfer must be byte-exact (the
# commit ids, `diff -r` of the trees), every command must exit 0, and the TAP counters prove the
# bytes went through tapstack. Kernel side: tap0 10.0.0.1/24; tapstack side: 10.0.0.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
for t in git rsync; do command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (make deps)"; exit 1; }; done
shim_setup t96
cd "$WORK"

# A repository with a 3 MiB random file and 30 small ones; a tree for rsync alike.
git init -q repo
for i in $(seq 30); do echo "file $i" > "repo/f$i"; done
head -c 3145728 /dev/urandom > repo/big.bin
git -C repo add . && git -C repo -c user.email=t@t -c user.name=t commit -qm one
head_id=$(git -C repo rev-parse HEAD)
mkdir tree up1 up2
for i in $(seq 20); do head -c $((i * 40000 + 7)) /dev/urandom > "tree/f$i"; done
head -c 4194304 /dev/urandom > tree/big
# No reverse lookup of each client: through tapstack the resolver's queries go to the
# gateway, which answers nothing, and each connection would wait out its timeout (10 s).
cat > rsyncd.conf <<CONF
use chroot = no
reverse lookup = no
uid = root
gid = root
[tree]
path = $WORK/tree
read only = yes
[up1]
path = $WORK/up1
read only = no
[up2]
path = $WORK/up2
read only = no
CONF
# ok WHAT CMD...: runs CMD, which must exit 0.
ok() { local what=$1; shift; "$@" || { echo "FAIL: $what exited $?"; exit 1; }; }
same_tree() { diff -r "$1" "$2" >/dev/null || { echo "FAIL: $3: the trees differ"; diff -rq "$1" "$2" | head -5; exit 1; }; }

# ---- shimmed clients, kernel daemons ----
netns_bg "$NS" git daemon --reuseaddr --base-path="$WORK" --export-all --enable=receive-pack --listen=10.0.0.1 --port=9418
netns_bg "$NS" rsync --daemon --no-detach --config="$WORK/rsyncd.conf" --address=10.0.0.1 --port=8730
netns_wait_port "$NS" 9418
netns_wait_port "$NS" 8730
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
ok "shimmed git clone" ts 30 git clone -q git://10.0.0.1/repo clone1
[ "$(git -C clone1 rev-parse HEAD)" = "$head_id" ] && cmp -s clone1/big.bin repo/big.bin \
  || { echo "FAIL: the shimmed clone differs"; exit 1; }
head -c 1048576 /dev/urandom > clone1/pushed.bin
git -C clone1 add pushed.bin && git -C clone1 -c user.email=t@t -c user.name=t commit -qm two
ok "shimmed git push" ts 30 git -C clone1 push -q origin HEAD:refs/heads/pushed
[ "$(git -C repo rev-parse pushed)" = "$(git -C clone1 rev-parse HEAD)" ] || { echo "FAIL: the push did not arrive"; exit 1; }
echo "ok: shimmed git clone (3 MiB) and push (1 MiB) against a kernel git daemon"
ok "shimmed rsync pull" ts 30 rsync -a rsync://10.0.0.1:8730/tree/ pull1/
same_tree tree pull1 "shimmed rsync pull"
ok "shimmed rsync push" ts 30 rsync -a tree/ rsync://10.0.0.1:8730/up1/
same_tree tree up1 "shimmed rsync push"
# A 1 KiB change in the middle of the 4 MiB file: rsync's delta sends little literal data.
head -c 1024 /dev/urandom | dd of=tree/big bs=1 seek=2000000 conv=notrunc status=none
# rsync's quick check skips a file whose size and mtime match: the change above can land in the
# same second as the first pull, so move the mtime on explicitly.
touch -m -d "@$(( $(stat -c %Y tree/big) + 10 ))" tree/big
ts 30 rsync -a --stats rsync://10.0.0.1:8730/tree/ pull1/ > stats.out || { echo "FAIL: the delta pull exited $?"; exit 1; }
same_tree tree pull1 "shimmed rsync delta pull"
lit=$(awk -F': ' '/^Literal data/ { gsub(/[ ,a-z]/, "", $2); print $2 }' stats.out)
[ -n "$lit" ] && [ "$lit" -lt 200000 ] || { echo "FAIL: the delta pull sent ${lit:-?} literal bytes"; cat stats.out; exit 1; }
echo "ok: shimmed rsync pull, push and delta pull ($lit literal bytes) against a kernel rsync daemon"
crossed tx $((3145728 + 2 * 4194304)) "$tx0" "clone and pulls"
crossed rx $((1048576 + 4194304)) "$rx0" "push and rsync push"

# ---- shimmed daemons, kernel clients ----
ts 60 git daemon --reuseaddr --base-path="$WORK" --export-all --enable=receive-pack --listen=10.0.0.2 --port=9419 \
  2> gitd.err &
_NETNS_PIDS+=($!)
ts 60 rsync --daemon --no-detach --config="$WORK/rsyncd.conf" --address=10.0.0.2 --port=8731 2> rsyncd.err &
_NETNS_PIDS+=($!)
up=0
for _ in $(seq 100); do
  if in_ns timeout 2 git ls-remote git://10.0.0.2:9419/repo >/dev/null 2>&1 \
     && in_ns timeout 2 rsync rsync://10.0.0.2:8731/ >/dev/null 2>&1; then up=1; break; fi
  sleep 0.1
done
[ $up = 1 ] || { echo "FAIL: the shimmed daemons do not answer"; cat gitd.err rsyncd.err; exit 1; }
in_ns ss -Hltn 'sport = :9419 or sport = :8731' | grep -q . && { echo "FAIL: a kernel socket listens (the daemons are not on tapstack)"; exit 1; }
rx0=$(tap_bytes rx); tx0=$(tap_bytes tx)
ok "kernel git clone from the shimmed daemon" in_ns timeout 30 git clone -q git://10.0.0.2:9419/repo clone2
[ "$(git -C clone2 rev-parse HEAD)" = "$head_id" ] && cmp -s clone2/big.bin repo/big.bin \
  || { echo "FAIL: the clone from the shimmed daemon differs"; exit 1; }
head -c 1048576 /dev/urandom > clone2/pushed2.bin
git -C clone2 add pushed2.bin && git -C clone2 -c user.email=t@t -c user.name=t commit -qm three
ok "kernel git push to the shimmed daemon" in_ns timeout 30 git -C clone2 push -q origin HEAD:refs/heads/pushed2
[ "$(git -C repo rev-parse pushed2)" = "$(git -C clone2 rev-parse HEAD)" ] || { echo "FAIL: the push did not arrive"; exit 1; }
echo "ok: kernel git clone and push through the shimmed git daemon (upload-pack/receive-pack on the socket)"
ok "kernel rsync pull from the shimmed daemon" in_ns timeout 30 rsync -a rsync://10.0.0.2:8731/tree/ pull2/
same_tree tree pull2 "kernel rsync pull from the shimmed daemon"
ok "kernel rsync push to the shimmed daemon" in_ns timeout 30 rsync -a tree/ rsync://10.0.0.2:8731/up2/
same_tree tree up2 "kernel rsync push to the shimmed daemon"
echo "ok: kernel rsync pull and push through the shimmed rsync daemon"
crossed rx $((3145728 + 4194304)) "$rx0" "clone and pull from the shimmed daemons"
crossed tx $((1048576 + 4194304)) "$tx0" "push to the shimmed daemons"
