#!/usr/bin/env bash
# Runs every c-tests client/server pair in each topology and compares the output with the
# kernel<->kernel reference (see compare-lib.sh for the topologies). Prints a table
# program x topology -> same/different/error, a diff for each difference, and exits nonzero on
# any difference or error.
#
# Environment:
#   COMPARE_TOPOLOGIES  all (default) | kernel | comma list of kk,tk,kt,tt
#   COMPARE_PROGRAMS    comma list of case names to run (default: all of CASES); may name
#                       PENDING cases
#   COMPARE_PENDING=1   also run the PENDING cases
#   COMPARE_OUT         directory for the outputs (default: a temporary directory, removed
#                       unless something differs)
#   COMPARE_PCAP=1      shimmed processes write TAPSTACK_PCAP files beside their outputs
# Other TAPSTACK_* variables (TAPSTACK_LOG, TAPSTACK_FAULTS...) reach the shimmed processes.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=../scripts/netns-lib.sh
source scripts/netns-lib.sh
# shellcheck source=compare-lib.sh
source c-tests/compare-lib.sh
netns_require_root
make -s -C c-tests >/dev/null || { echo "c-tests do not build" >&2; exit 1; }

# Self-check of the SHA-256 every program prints.
want=$(head -c 1234567 /dev/zero | tr '\0' 'q' | sha256sum | cut -d' ' -f1)
got=$(head -c 1234567 /dev/zero | tr '\0' 'q' | c-tests/bin/sha256_stream | cut -d' ' -f1)
[ "$want" = "$got" ] || { echo "sha256 self-check failed: $got != $want" >&2; exit 1; }

# Cases: name | server argv | client argv (@HOST = the server's address) [| flags, see cl_pair in
# compare-lib.sh]. Ports differ per case so no case meets another's TIME_WAIT.
CASES=(
  "echo|tcp_echo_server -p 7001|tcp_echo_client -c @HOST -p 7001 -n 400 -M 16384 -s 7"
  "duplex|tcp_echo_server -p 7015|duplex_client -c @HOST -p 7015 -m 8 -s 9"
  "bulk_up|bulk_recv -l -p 7002|bulk_send -c @HOST -p 7002 -m 16 -s 3"
  "bulk_down|bulk_send -l -p 7003 -m 16 -s 4|bulk_recv -c @HOST -p 7003"
  "exit_flush_srv|bulk_send noclose -l -p 7013 -m 4 -s 6|bulk_recv -c @HOST -p 7013"
  "exit_flush_cli|bulk_recv -l -p 7014|bulk_send noclose -c @HOST -p 7014 -m 4 -s 8"
  "half_close|half_close server -p 7004|half_close client -c @HOST -p 7004 -b 300000 -s 5"
  "many_conns|many_conns server -p 7005 -k 200|many_conns client -c @HOST -p 7005 -k 200"
  "nonblock|nonblock server -p 7006|nonblock client -c @HOST -p 7006"
  "select_poll_epoll|select_poll_epoll server -p 7007|select_poll_epoll client -c @HOST -p 7007"
  "errors|errors server -p 7008|errors client -c @HOST -p 7008"
  "sockopts|sockopts server -p 7009|sockopts client -c @HOST -p 7009"
  "pingpong|pingpong server -p 7010|pingpong client -c @HOST -p 7010 -n 2000"
  "accept_rate|accept_rate server -p 7011|accept_rate client -c @HOST -p 7011 -n 300"
  "io_variants|io_variants server -p 7012|io_variants client -c @HOST -p 7012"
  "misc_calls|misc_calls server -p 7016|misc_calls client -c @HOST -p 7016"
  "signals|signals server -p 7019 -w 15|signals client -c @HOST -p 7019 -w 15"
  "unreachable|unreachable server -p 7018|unreachable client -c @HOST -p 7018"
  "multi_stream|multi_stream server -p 7017 -k 16|multi_stream client -c @HOST -p 7017 -k 16 -b 524288 -s 21"
  "errno_keep|errno_keep server -p 7021|errno_keep client -c @HOST -p 7021"
  "dualstack|dualstack server -p 7023|dualstack client -c @HOST -p 7023"
  "eintr|eintr server -p 7026 -w 30|eintr client -c @HOST -p 7026 -w 30"
  # The same with the shim's busy poll of a blocking read as long as it goes (1 s): the
  # signals land while the read polls (svc/spin.rs), and must act as on a sleeping read.
  "eintr_poll|eintr server -p 7050 -w 30|eintr client -c @HOST -p 7050 -w 30|env=TAPSTACK_BUSY_POLL_US=1000000"
  "stdio_sendfile|stdio_sendfile server -p 7027|stdio_sendfile client -c @HOST -p 7027 -s 11"
  "ioctl_fcntl|ioctl_fcntl server -p 7022|ioctl_fcntl client -c @HOST -p 7022"
  "sandbox_io|sandbox_io server -p 7029 -b 300000 -w 20|sandbox_io client -c @HOST -p 7029 -b 300000 -s 13 -w 20"
  "epoll_threads|epoll_threads server -p 7024|epoll_threads client -c @HOST -p 7024"
  "sig_reenter|sig_reenter server -p 7030 -w 30|sig_reenter client -c @HOST -p 7030 -w 30"
  "sig_longjmp|sig_longjmp server -p 7033 -w 30|sig_longjmp client -c @HOST -p 7033 -w 30"
  "urgent_trunc|urgent_trunc server -p 7031|urgent_trunc client -c @HOST -p 7031"
  "tcp_opts|tcp_opts server -p 7034|tcp_opts client -c @HOST -p 7034"
  # TCP_MAXSEG: range, the value read while closed/listening, the MSS each end sends with.
  "tcp_maxseg|tcp_maxseg server -p 7130|tcp_maxseg client -c @HOST -p 7130"
  # A process that gave up root (setuid to nobody, as memcached -u): its sockets, EACCES for a
  # privileged port, EADDRINUSE for another user's SO_REUSEPORT group.
  "user_rights|user_rights server -p 7060|user_rights client -c @HOST -p 7060"
  # Children made by a raw clone(SIGCHLD) (vsftpd's sessions) and by vfork close the listener.
  "raw_clone|raw_clone server -p 7062|raw_clone client -c @HOST -p 7062"
  "udp_mmsg|udp_mmsg server 7032|udp_mmsg client @HOST 7032|ready=stdout"
  "udp_pktinfo|udp_pktinfo server 7034|udp_pktinfo client @HOST 7034|ready=stdout"
  "udp_mcast|udp_mcast server 7035|udp_mcast client @HOST 7035|ready=stdout"
  "shut_late|shut_late server -p 7070|shut_late client -c @HOST -p 7070"
  "send_edges|send_edges server -p 7071|send_edges client -c @HOST -p 7071"
  "mcast_if|mcast_if server -p 7072|mcast_if client -c @HOST -p 7072"
  # Datagrams and connect to a group with no route to it (no default route anywhere).
  "mcast_route|mcast_route server -p 7073|mcast_route client -c @HOST -p 7073|env=TAPSTACK_GW=none"
  # Source filters (IP_ADD_SOURCE_MEMBERSHIP, IP_BLOCK_SOURCE...): errors and what each socket hears.
  "mcast_source|mcast_source server -p 7074|mcast_source client -c @HOST -p 7074"
  # The protocol-independent API (MCAST_JOIN_GROUP, MCAST_BLOCK_SOURCE...; RFC 3678), by index.
  "mcast_group|mcast_group server -p 7100|mcast_group client -c @HOST -p 7100"
  # The whole-filter options IP_MSFILTER and MCAST_MSFILTER, set and read back.
  "mcast_msf|mcast_msf server -p 7120|mcast_msf client -c @HOST -p 7120"
  # An ICMP error read from the error queue with IP_RECVTTL / IP_RECVTOS: IP_TTL, IP_TOS first.
  "udp_errttl|udp_errttl server -p 7125|udp_errttl client -c @HOST -p 7125"
  # The interface-address ioctls (SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFCONF ...) as a program
  # finds its own interface: ENOTTY on a tapstack socket before the shim answered them.
  "ifreq_ioctl|ifreq_ioctl server -p 7090|ifreq_ioctl client -c @HOST -p 7090"
  # IP_MTU_DISCOVER DO/PROBE/INTERFACE: EMSGSIZE for a datagram over the MTU (no fragments).
  "udp_pmtudisc|udp_pmtudisc server -p 7091|udp_pmtudisc client -c @HOST -p 7091"
  # Raw sockets: ICMP echo by hand, ICMP_FILTER, IPPROTO_RAW, raw UDP and its error queue.
  "raw_ip|raw_ip server -p 7170|raw_ip client -c @HOST -p 7170"
  # Random sequences of socket calls (seeded): every call's result the same as the kernel's.
  "seq_fuzz|seq_fuzz server -p 7180|seq_fuzz client -c @HOST -p 7180 -s ${SEQ_FUZZ_SEED:-1} -k ${SEQ_FUZZ_SEEDS:-8} -n 40"
  # shutdown() waking a blocked UDP recv and accept, a listener paused and resumed (HAProxy).
  "shut_wake|seq_fuzz server -p 7183|shut_wake client -c @HOST -p 7183"
  # Every socket option of a list with odd lengths and values: errno order and stored values.
  "opt_sweep|seq_fuzz server -p 7192|opt_sweep client -c @HOST -p 7192"
  # send() and recv() with each MSG_* flag on TCP and UDP: results, and whether data left.
  "msg_flags|seq_fuzz server -p 7193|msg_flags client -c @HOST -p 7193"
  # Argument checks of shutdown, listen, accept4, getsockname/getpeername and bind.
  "call_edges|seq_fuzz server -p 7194|call_edges client -c @HOST -p 7194"
  # sendto/connect with destinations of every shape, AF_INET and AF_INET6, TCP and UDP.
  "addr_edges|seq_fuzz server -p 7195|addr_edges client -c @HOST -p 7195"
  # recv/recvfrom/recvmsg edges: truncation, peeking, address lengths and null pointers.
  "recv_edges|seq_fuzz server -p 7196|recv_edges client -c @HOST -p 7196"
  # One call on a loopback TCP connection in each state (CLOSE-WAIT, reset, half-closed...).
  "tcp_states|seq_fuzz server -p 7197|tcp_states client -c @HOST -p 7197"
  # TCP_CORK and MSG_MORE on TCP (held under the MSS until the cork comes out, the next send, a FIN or
  # ~200 ms), UDP_CORK, MSG_MORE on UDP.
  "cork|cork server -p 7198|cork client -c @HOST -p 7198"
  # UDP_SEGMENT: a send leaves as datagrams of the segment size, with Linux's checks.
  "udp_gso|seq_fuzz server -p 7206|udp_gso client -c @HOST -p 7206"
  # TCP_DEFER_ACCEPT: a connection is accepted with its first data, a FIN, or after the deferral.
  "defer_accept|defer_accept server -p 7204|defer_accept client -c @HOST -p 7204"
  # IP_BIND_ADDRESS_NO_PORT: bind() of an address takes no port; connect/listen/send pick one.
  "bind_noport|seq_fuzz server -p 7202|bind_noport client -c @HOST -p 7202"
  "udp_peer|udp_peer server 7020 300 72 8000|udp_peer client @HOST 7020 300 72 8000|ready=stdout mask=s/ on port [0-9]+//; s/, [0-9]+ (resent|stale replies|duplicates)//g"
)

# Cases for work in progress (issue 10: one shared stack per TAP, dual-stack sockets, signals;
# issue 11 items 1 and 1b: errno, ioctl/fcntl): they fail on a main without that work, so they
# run only when named in COMPARE_PROGRAMS or with COMPARE_PENDING=1. Move a case into CASES
# when the work that makes it pass lands.
PENDING=(
)
if [ -n "${COMPARE_PENDING:-}" ] || [ -n "${COMPARE_PROGRAMS:-}" ]; then CASES+=("${PENDING[@]}"); fi

# Open tapstack bugs that a case is known to show (like #[ignore = "reason"] in Rust): such a
# case prints "known-diff" instead of failing the run, and says so when it starts to agree.
# COMPARE_STRICT=1 makes known differences fail too. Remove an entry when the bug is fixed.
declare -A KNOWN=(
)

case ${COMPARE_TOPOLOGIES:-all} in
  all) TOPOS=(kk tk kt tt);;
  kernel) TOPOS=(kk);;
  *) IFS=, read -r -a TOPOS <<<"$COMPARE_TOPOLOGIES"
     [ "${TOPOS[0]}" = kk ] || TOPOS=(kk "${TOPOS[@]}");;   # the reference always runs
esac
want_case() {
  [ -z "${COMPARE_PROGRAMS:-}" ] && return 0
  [[ ",$COMPARE_PROGRAMS," == *",$1,"* ]]
}

if [ -n "${COMPARE_OUT:-}" ]; then OUT=$COMPARE_OUT; mkdir -p "$OUT"; KEEP=1
else OUT=$(mktemp -d /tmp/compare.XXXXXX); KEEP=0; fi

declare -A STATUS
NAMES=()
for c in "${CASES[@]}"; do
  name=${c%%|*}
  want_case "$name" && NAMES+=("$name")
done
[ ${#NAMES[@]} -gt 0 ] || { echo "no case matches COMPARE_PROGRAMS=$COMPARE_PROGRAMS" >&2; exit 1; }

for t in "${TOPOS[@]}"; do
  echo "== $(topo_label "$t")"
  if ! topo_setup "$t"; then
    for name in "${NAMES[@]}"; do STATUS[$name,$t]="error(setup)"; done
    netns_cleanup
    continue
  fi
  for c in "${CASES[@]}"; do
    IFS='|' read -r name srv cli flags <<<"$c"
    want_case "$name" || continue
    dir=$OUT/$t/$name
    if cl_pair "$dir" "$srv" "$cli" "$flags"; then ok=1; else ok=0; fi
    if [ "$t" = kk ]; then
      if [ $ok = 1 ]; then STATUS[$name,$t]=ok; else STATUS[$name,$t]=error; fi
    elif [ ${#CL_TAPS[@]} -gt 0 ] && [ "$CL_TAP_FRAMES" -le 0 ]; then
      STATUS[$name,$t]="error(no-tap-traffic)"   # the shim did not carry this run
    elif cmp -s "$dir/out" "$OUT/kk/$name/out"; then
      STATUS[$name,$t]=same
    elif [ -n "${KNOWN[$name]:-}" ] && [ -z "${COMPARE_STRICT:-}" ]; then
      STATUS[$name,$t]=known-diff
    elif [ $ok = 0 ]; then
      STATUS[$name,$t]=error
    else
      STATUS[$name,$t]=different
    fi
    frames="  ($CL_TIMES"; [ ${#CL_TAPS[@]} -gt 0 ] && frames+=", ${CL_TAP_FRAMES} frames through TAP"
    frames+=")"
    printf '   %-18s %-22s%s\n' "$name" "${STATUS[$name,$t]}" "$frames"
  done
  netns_cleanup
done

# The table.
echo
printf '%-18s' program
for t in "${TOPOS[@]}"; do printf ' %-22s' "$(topo_label "$t")"; done
echo
fail=0
for name in "${NAMES[@]}"; do
  printf '%-18s' "$name"
  for t in "${TOPOS[@]}"; do
    s=${STATUS[$name,$t]:-n/a}
    printf ' %-22s' "$s"
    case $s in ok|same|known-diff) ;; *) fail=1;; esac
  done
  echo
done

# Details of everything that is not the same.
for name in "${NAMES[@]}"; do
  for t in "${TOPOS[@]}"; do
    s=${STATUS[$name,$t]:-n/a}
    case $s in ok|same|n/a) continue;; esac
    [ "$s" = known-diff ] && echo && echo "(known: ${KNOWN[$name]})"
    dir=$OUT/$t/$name
    echo
    echo "##### $name in $(topo_label "$t"): $s"
    if [ "$t" != kk ] && [ -f "$dir/out" ] && [ -f "$OUT/kk/$name/out" ]; then
      diff -u --label "kernel<->kernel" --label "$(topo_label "$t")" "$OUT/kk/$name/out" "$dir/out" | head -n 60
    elif [ -f "$dir/out" ]; then
      head -n 40 "$dir/out"
    fi
    for side in srv cli; do
      if [ -s "$dir/$side.err" ]; then echo "-- $side stderr (last lines):"; tail -n 15 "$dir/$side.err"; fi
    done
  done
done

for name in "${NAMES[@]}"; do
  [ -n "${KNOWN[$name]:-}" ] || continue
  all_same=1; any=0
  for t in "${TOPOS[@]}"; do
    [ "$t" = kk ] && continue
    any=1
    [ "${STATUS[$name,$t]:-}" = same ] || all_same=0
  done
  [ $any = 1 ] && [ $all_same = 1 ] && echo "note: $name now agrees everywhere; remove it from KNOWN in c-tests/compare.sh"
done

if [ $fail = 0 ]; then
  echo; echo "compare: all ${#NAMES[@]} programs agree in ${#TOPOS[@]} topologies"
  [ $KEEP = 1 ] || rm -rf "$OUT"
  exit 0
fi
echo; echo "compare: FAILED (outputs kept in $OUT)"
exit 1
