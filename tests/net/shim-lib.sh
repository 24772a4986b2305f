# Shared set-up of the shim's network tests (t_5*): source it after setting ROOT, then call
# `shim_setup TAG`. It gives: NS (a namespace with tap0, kernel side 10.0.0.1/24, its own
# resolv.conf naming 10.0.0.1), WORK (a temp
# dir removed on exit), LIB, PY, and the helpers in_ns, ts (run through tapstack, bounded), sha,
# tap_bytes and crossed (proof that bytes went through tap0, i.e. through tapstack).
. "$ROOT/scripts/netns-lib.sh"

shim_setup() {
  netns_require_root
  LIB=${TAPSTACK_LIB:-$ROOT/target/release/libtapstack_preload.so}
  [ -r "$LIB" ] || { echo "FAIL: $LIB is not built (make build)"; exit 1; }
  PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)
  WORK=$(mktemp -d)
  trap 'ns_kill_all; netns_cleanup; rm -rf "$WORK"' EXIT
  netns_make NS "$1"
  netns_tap "$NS" tap0 10.0.0.1/24
  # A resolver configuration of the namespace's own (`ip netns exec` bind-mounts it over
  # /etc/resolv.conf; netns_cleanup removes it): the kernel side, where no DNS server listens
  # unless a test starts one, so a lookup fails at once with port unreachable, on either stack.
  # The host's nameserver would be a black hole behind the TAP's gateway: lookups through
  # tapstack (python http.server's getfqdn at startup) waited out every timeout.
  mkdir -p "/etc/netns/$NS"
  printf 'nameserver 10.0.0.1\noptions timeout:2 attempts:1\n' > "/etc/netns/$NS/resolv.conf"
}

# in_ns CMD...: kernel stack inside the namespace. ts SECS CMD...: through tapstack, bounded.
in_ns() { ip netns exec "$NS" "$@"; }
ts() { local t=$1; shift; timeout -k 5 "$t" ip netns exec "$NS" env TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 \
        TAPSTACK_GW=10.0.0.1 TAPSTACK_LIB="$LIB" "$ROOT/scripts/tapstack" "$@"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# shimmed_as PID USER WHAT: fails unless process PID runs as USER with the shim loaded.
shimmed_as() {
  [ "$(awk '/^Uid:/ { print $3 }' "/proc/$1/status")" = "$(id -u "$2")" ] || { echo "FAIL: $3 ($1) does not run as $2"; exit 1; }
  grep -q libtapstack_preload "/proc/$1/maps" || { echo "FAIL: $3 ($1) runs without the shim"; exit 1; }
}
# root_service: sets svc to the service's pid; fails unless it runs as root.
root_service() {
  svc=$(svc_pid)
  [ -n "$svc" ] && [ "$(awk '/^Uid:/ { print $3 }' "/proc/$svc/status")" = 0 ] || { echo "FAIL: no service running as root (pid '${svc}')"; exit 1; }
}
# write_echo_server FILE [ADDR]: a Python TCP echo server (threads, one per connection) on
# ADDR:9001 (default 10.0.0.1), for a kernel-side peer (t_66, t_81, t_100).
write_echo_server() {
  sed "s/10\.0\.0\.1/${2:-10.0.0.1}/" > "$1" <<'PY'
import socketserver
class H(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            b = self.request.recv(65536)
            if not b:
                break
            self.request.sendall(b)
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
S(("10.0.0.1", 9001), H).serve_forever()
PY
}
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

# ---- the shared stack service (issue 10) ----
# Every process inside $NS was started by this test (the namespace is its own), so the cleanup
# may end them all by PID: shimmed programs, the service they started, kernel-side servers.
ns_kill_all() {
  local pids p
  [ -n "${NS:-}" ] || return 0
  pids=$(ip netns pids "$NS" 2>/dev/null) || return 0
  [ -n "$pids" ] || return 0
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    pids=$(ip netns pids "$NS" 2>/dev/null); [ -n "$pids" ] || return 0; sleep 0.1
  done
  for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
}
# ts_procs: PIDs of tapstack processes in $NS: programs with the shim loaded, and the service
# (any executable named tapstack*). One per line.
ts_procs() {
  local p
  for p in $(ip netns pids "$NS" 2>/dev/null); do
    if grep -q libtapstack_preload "/proc/$p/maps" 2>/dev/null; then echo "$p"; continue; fi
    case "$(readlink "/proc/$p/exe" 2>/dev/null)" in */tapstack*) echo "$p";; esac
  done
}
# svc_pid [TAP]: PID of the service of TAP (default tap0) in $NS: the process that listens on the
# abstract Unix socket @tapstack.TAP, else a process in $NS whose executable is named tapstack*
# without the shim loaded. Empty when there is none.
SVC_SOCK_PREFIX=${SVC_SOCK_PREFIX:-@tapstack.}
svc_pid() {
  local pid p
  pid=$(in_ns ss -Hxlp 2>/dev/null | awk -v n="$SVC_SOCK_PREFIX${1:-tap0}" '$5 == n' \
    | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
  if [ -z "$pid" ]; then
    for p in $(ip netns pids "$NS" 2>/dev/null); do
      grep -q libtapstack_preload "/proc/$p/maps" 2>/dev/null && continue
      case "$(readlink "/proc/$p/exe" 2>/dev/null)" in */tapstack*) pid=$p; break;; esac
    done
  fi
  echo "$pid"
}
# alive PID: the process exists and is not a zombie (a daemon reparented to a PID 1 that does
# not reap stays a zombie: it has exited).
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
# svc_fds PID: descriptors the service holds (each tapstack socket is one; a freed socket is
# one fewer).
svc_fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
# no_leftovers SECS WHAT: within SECS no tapstack process (program or service) remains in $NS,
# or the test fails listing them.
SVC_GRACE_WAIT=${SVC_GRACE_WAIT:-15}
# service_done SECS WHAT: as no_leftovers, for a test that needs the service gone before its next
# run (the service's settings belong to the TAP). The programs have exited; the service exits
# on its own after its idle grace, except while a connection of ours is in TIME-WAIT (2 MSL =
# 60 s: our side closed first, RFC 9293 3.6.1). If after SECS only the service is left and
# every connection it lists is in TIME-WAIT, it is stopped by PID with SIGTERM (a clean stop:
# trace and pcap complete) and must be gone within 5 s, with its keepers.
service_done() {
  local secs=$1 what=$2 i left pid states
  for ((i = 0; i < secs * 10; i++)); do
    left=$(ts_procs)
    [ -z "$left" ] && { echo "   $what: no tapstack process left after $((i / 10)).$((i % 10)) s"; return 0; }
    sleep 0.1
  done
  pid=$(svc_pid)
  states=$(ip netns exec "$NS" env TAPSTACK_TAP=tap0 "$ROOT/scripts/tapstack" ss -tan 2>/dev/null \
    | awk 'NR > 1 { print $2 }' | sort -u | tr '\n' ' ')
  # The service's keepers (stack/src/service/keep.rs) end with it.
  left=$(for p in $left; do tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- '--keeper' || echo "$p"; done)
  if [ -n "$pid" ] && [ "$left" = "$pid" ] && [ "$states" = "TIME-WAIT " ]; then
    kill -TERM "$pid"
    echo "   $what: the service stays for TIME-WAIT; stopped by SIGTERM (pid $pid)"
    no_leftovers 5 "$what (after SIGTERM)"
    return 0
  fi
  echo "FAIL: $what: tapstack processes still running after ${secs}s (connections: ${states:-none}):"
  for p in $left; do echo "   $p $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)"; done
  exit 1
}
no_leftovers() {
  local secs=$1 what=$2 i left
  for ((i = 0; i < secs * 10; i++)); do
    left=$(ts_procs)
    [ -z "$left" ] && { echo "   $what: no tapstack process left after $((i / 10)).$((i % 10)) s"; return 0; }
    sleep 0.1
  done
  echo "FAIL: $what: tapstack processes still running after ${secs}s:"
  for p in $left; do echo "   $p $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)"; done
  echo "   the service's connections (diagnostics only):"
  ip netns exec "$NS" env TAPSTACK_TAP=tap0 "$ROOT/scripts/tapstack" ss -tan 2>&1 | sed 's/^/     /'
  exit 1
}

# router_setup SUFFIX [MTU [ADVMSS]]: the kernel's side of tap0 (NS, 10.0.0.1) becomes a router
# to a target namespace NS2 (10.0.1.2) over a veth 10.0.1.1 -- 10.0.1.2 of MTU (default the
# veth's), the target routing back through it (advertising ADVMSS when given): forwarding on,
# no ICMP rate limit in either namespace; fails unless the router reaches the target.
#   tapstack 10.0.0.2 --tap0-- 10.0.0.1 [NS, router] 10.0.1.1 --veth-- 10.0.1.2 [NS2]
router_setup() {
  local suffix=$1 mtu=${2:-} advmss=${3:-} n
  netns_make NS2 "$suffix"
  ip -n "$NS" link add r0 ${mtu:+mtu "$mtu"} type veth peer name h0 netns "$NS2"
  ip -n "$NS" addr add 10.0.1.1/24 dev r0
  ip -n "$NS" link set r0 up
  if [ -n "$mtu" ]; then ip -n "$NS2" link set h0 mtu "$mtu"; fi
  ip -n "$NS2" addr add 10.0.1.2/24 dev h0
  ip -n "$NS2" link set h0 up
  ip -n "$NS2" route add default via 10.0.1.1 ${advmss:+advmss "$advmss"}
  in_ns sysctl -qw net.ipv4.ip_forward=1
  for n in "$NS" "$NS2"; do ip netns exec "$n" sysctl -qw net.ipv4.icmp_ratelimit=0; done
  in_ns ping -c 1 -W 2 10.0.1.2 >/dev/null || { echo "FAIL: the router cannot reach the target"; return 1; }
}

# sha_sink NETNS IP PORT FILE: a kernel server in NETNS that reads one connection to its end
# and writes the SHA-256 of what it got to FILE; returns once it listens.
sha_sink() {
  netns_bg "$1" "$PY" -c '
import hashlib, socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(1)
c, _ = l.accept(); h = hashlib.sha256()
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b)
open(sys.argv[3], "w").write(h.hexdigest())
' "$2" "$3" "$4"
  netns_wait_port "$1" "$3"
}

# reasm_reqds NETNS: the IP fragments NETNS has had to reassemble (ReasmReqds, /proc/net/snmp).
reasm_reqds() {
  ip netns exec "$1" awk '/^Ip: [A-Z]/ { for (i = 2; i <= NF; i++) if ($i == "ReasmReqds") c = i }
                          /^Ip: [0-9]/ { print $c }' /proc/net/snmp
}

# need_cmd CMD PACKAGE: CMD must be installed (scripts/install-deps.sh installs PACKAGE): under
# CI=true a missing one fails the test; elsewhere the test is skipped (exit 77).
need_cmd() {
  command -v "$1" >/dev/null 2>&1 && return 0
  [ "${CI:-}" = "true" ] && { echo "FAIL: $1 ($2) missing: scripts/install-deps.sh"; exit 1; }
  echo "skip: $1 ($2) missing"; exit 77
}
