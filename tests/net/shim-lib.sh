# Shared set-up of the shim's network tests (t_5*): source it after setting ROOT, then call
# `shim_setup TAG`. It gives: NS (a namespace with tap0, kernel side 10.0.0.1/24), WORK (a temp
# dir removed on exit), LIB, PY, and the helpers in_ns, ts (run through tapstack, bounded), sha,
# tap_bytes and crossed (proof that bytes went through tap0, i.e. through tapstack).
. "$ROOT/scripts/netns-lib.sh"

shim_setup() {
  netns_require_root
  LIB=${TAPSTACK_LIB:-$ROOT/target/release/libtapstack_preload.so}
  [ -r "$LIB" ] || { echo "FAIL: $LIB is not built (make build)"; exit 1; }
  PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)
  WORK=$(mktemp -d)
  trap 'netns_cleanup; rm -rf "$WORK"' EXIT
  netns_make NS "$1"
  netns_tap "$NS" tap0 10.0.0.1/24
}

# in_ns CMD...: kernel stack inside the namespace. ts SECS CMD...: through tapstack, bounded.
in_ns() { ip netns exec "$NS" "$@"; }
ts() { local t=$1; shift; timeout -k 5 "$t" ip netns exec "$NS" env TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 \
        TAPSTACK_GW=10.0.0.1 TAPSTACK_LINGER="${TAPSTACK_LINGER:-5000}" TAPSTACK_LIB="$LIB" "$ROOT/scripts/tapstack" "$@"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# Proof that traffic went through tapstack: only tapstack writes frames into tap0 (the kernel's
# rx), and what the kernel sends to 10.0.0.2 leaves through tap0 (its tx). Without the shim a
# program would reach 10.0.0.1 over the kernel's own loopback and these counters would not move.
tap_bytes() { in_ns cat "/sys/class/net/tap0/statistics/$1_bytes"; }
# crossed rx|tx MIN BEFORE WHAT: at least MIN bytes crossed tap0 in that direction since BEFORE.
crossed() {
  local d=$(( $(tap_bytes "$1") - $3 ))
  [ "$d" -ge "$2" ] || { echo "FAIL: $4: only $d bytes crossed tap0 ($1), expected >= $2 (not through tapstack?)"; exit 1; }
  echo "   $4: $d bytes crossed tap0 (kernel $1)"
}

