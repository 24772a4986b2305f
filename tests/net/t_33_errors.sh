#!/usr/bin/env bash
# Issue 3: clear one-line errors (exit 2) for: no such device, device busy, not a TAP device,
# no permission, malformed TAPSTACK_* values; a TAP deleted under a running host (exit 1). ("No /dev/net/tun" cannot be simulated safely
# and is covered by the message table in phy/tap.rs only.)
set -euo pipefail
. "$(dirname "$0")/../../scripts/netns-lib.sh"
netns_require_root
trap 'echo "FAIL at line $LINENO: $BASH_COMMAND" >&2' ERR
netns_deadline 120
tapstack_host_bin

netns_make NS t33
netns_tap "$NS" tap0 10.0.0.1/24
ip -n "$NS" tuntap add dev tun0 mode tun
netns_tmpdir T
chmod 755 "$T"
BASE=(TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 TAPSTACK_MAC=02:00:00:00:00:02)

# expect_err REGEX [VAR=VALUE...] [-- ARGS...]: tapstack-host must exit 2 with one stderr line
# "tapstack-host: ..." matching REGEX, promptly and without touching the TAP.
expect_err() {
  local re=$1; shift
  local envs=() args=() rc=0
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  args=("$@")
  timeout 10 ip netns exec "$NS" env "${BASE[@]}" "${envs[@]}" "$TAPSTACK_HOST" "${args[@]}" \
    >"$T/out" 2>"$T/err" || rc=$?
  echo "[${envs[*]} ${args[*]}] exit $rc: $(cat "$T/err")"
  [ "$rc" -eq 2 ] || { echo "FAIL: expected exit 2" >&2; return 1; }
  [ "$(wc -l <"$T/err")" -eq 1 ] || { echo "FAIL: expected exactly one line on stderr" >&2; return 1; }
  grep -q '^tapstack-host: ' "$T/err" || { echo "FAIL: expected a 'tapstack-host: ' prefix" >&2; return 1; }
  grep -qE "$re" "$T/err" || { echo "FAIL: expected /$re/" >&2; return 1; }
}

echo "== no such device (and none gets created)"
expect_err 'no such device' TAPSTACK_TAP=nosuch0
if ip -n "$NS" link show nosuch0 >/dev/null 2>&1; then echo "FAIL: nosuch0 was created" >&2; exit 1; fi

echo "== not a TAP device"
expect_err 'not a TAP device' TAPSTACK_TAP=tun0
expect_err 'not a TAP device' TAPSTACK_TAP=lo

echo "== malformed values"
expect_err '^tapstack-host: TAPSTACK_ADDR: ' TAPSTACK_ADDR=10.0.0.2
expect_err '^tapstack-host: TAPSTACK_ADDR: ' TAPSTACK_ADDR=10.0.0.256/24
expect_err '^tapstack-host: TAPSTACK_ADDR: ' TAPSTACK_ADDR=10.0.0.2/40
expect_err '^tapstack-host: TAPSTACK_MAC: ' TAPSTACK_MAC=01:00:00:00:00:02
expect_err '^tapstack-host: TAPSTACK_MAC: ' TAPSTACK_MAC=02:00:00:00:02
expect_err '^tapstack-host: TAPSTACK_MAC: ' TAPSTACK_MAC=zz:00:00:00:00:02
expect_err '^tapstack-host: TAPSTACK_MTU: ' TAPSTACK_MTU=100
expect_err '^tapstack-host: TAPSTACK_MTU: ' TAPSTACK_MTU=abc
expect_err '^tapstack-host: TAPSTACK_GW: ' TAPSTACK_GW=10.0.0
expect_err '^tapstack-host: TAPSTACK_TAP: ' TAPSTACK_TAP=averyveryverylongname
expect_err '^tapstack-host: TAPSTACK_LOG: ' TAPSTACK_LOG='tapstack=notalevel'
expect_err '^tapstack-host: TAPSTACK_FAULTS: ' TAPSTACK_FAULTS=loss=2
expect_err '^tapstack-host: TAPSTACK_PCAP: ' TAPSTACK_PCAP=/nonexistent-dir/x.pcap
expect_err 'unknown argument' -- --bogus

echo "== device busy"
netns_host_start "$NS" "$T/a.out" "$T/a.err" "${BASE[@]}"
HOST=$NETNS_LAST_PID
expect_err 'device busy'
# The first instance is unharmed: it still answers.
netns_ping "$NS" 2 "$T/ping" -i 0.2 10.0.0.2
netns_stop "$HOST" 10

echo "== the TAP interface deleted under a running host: one line, exit 1 (no spinning)"
ip -n "$NS" tuntap add dev tapdel mode tap
ip -n "$NS" link set tapdel up
netns_host_start "$NS" "$T/d.out" "$T/d.err" "${BASE[@]}" TAPSTACK_TAP=tapdel
HOST=$NETNS_LAST_PID
ip -n "$NS" link del tapdel
rc=0
for _ in $(seq 1 50); do kill -0 "$HOST" 2>/dev/null || break; sleep 0.1; done
wait "$HOST" || rc=$?
echo "exit $rc: $(cat "$T/d.err")"
[ "$rc" -eq 1 ]
[ "$(wc -l <"$T/d.err")" -eq 1 ]
grep -q '^tapstack: TAP device tapdel is gone' "$T/d.err"

echo "== permission denied (unprivileged user)"
# A TAP owned by root: Linux (tun_not_capable) refuses it to another user without CAP_NET_ADMIN
# whatever /dev/net/tun's mode (udev makes it 0666 on some machines, and a TAP without an owner
# is then open to anyone).
ip -n "$NS" tuntap add dev tapown mode tap user 0 group 0
cp "$TAPSTACK_HOST" "$T/tapstack-host"
chmod 755 "$T/tapstack-host"
rc=0
timeout 10 ip netns exec "$NS" env "${BASE[@]}" TAPSTACK_TAP=tapown setpriv --reuid=65534 --regid=65534 --clear-groups \
  "$T/tapstack-host" >"$T/out" 2>"$T/err" || rc=$?
echo "exit $rc: $(cat "$T/err")"
[ "$rc" -eq 2 ]
[ "$(wc -l <"$T/err")" -eq 1 ]
grep -q '^tapstack-host: .*permission denied' "$T/err"
echo "PASS"
