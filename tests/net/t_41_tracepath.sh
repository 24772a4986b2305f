#!/usr/bin/env bash
# tracepath under the shim: through a router namespace (kernel, forwarding) to a target,
#   tapstack 10.0.0.2 --tap0-- 10.0.0.1 [NS, router] 10.0.1.1 --veth-- 10.0.1.2 [NS2, target]
# tracepath reads each ICMP error from the error queue with IP_RECVTTL on and computes the hops
# back from the IP_TTL control message Linux adds there (ip_recv_error -> ip_cmsg_recv). Without
# it tracepath printed an asymmetry ("asymm 66": no TTL seen); with it each hop is symmetric and
# the target is reached in 2 hops ("reached", "back 2"), as the kernel's tracepath prints.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/net/shim-lib.sh"
shim_setup t41
netns_deadline 90
command -v tracepath >/dev/null || { echo "FAIL: tracepath is not installed (iputils-tracepath)"; exit 1; }
router_setup t41b

ts 60 tracepath -n -m 5 10.0.1.2 > "$WORK/tp" 2>&1 || true
cat "$WORK/tp"
grep -Eq '^ *1: +10\.0\.0\.1 ' "$WORK/tp" || { echo "FAIL: hop 1 is not 10.0.0.1"; exit 1; }
grep -Eq '^ *2: +10\.0\.1\.2 .*reached' "$WORK/tp" || { echo "FAIL: the target not reached at hop 2"; exit 1; }
! grep -q 'asymm' "$WORK/tp" || { echo "FAIL: an asymmetric hop (no IP_TTL on the error queue)"; exit 1; }
grep -Eq 'Resume: .* back 2 *$' "$WORK/tp" || { echo "FAIL: not 'back 2'"; exit 1; }
echo "ok: tracepath sees each error's TTL (back 2, no asymmetry)"
