#!/usr/bin/env bash
# Installs what tests, demo and benchmarks need on a fresh Debian machine (idempotent, quiet):
# nothing is installed (and apt is not even asked) when every command or file is already there.
set -euo pipefail
need=()
# command:package (the command proves the package is there).
for pair in ip:iproute2 ping:iputils-ping arping:iputils-arping tcpdump:tcpdump nft:nftables nc:netcat-openbsd \
            iperf3:iperf3 dnsmasq:dnsmasq-base curl:curl wget:wget python3:python3 gcc:gcc \
            strace:strace sha256sum:coreutils setpriv:util-linux script:bsdutils timeout:coreutils awk:mawk \
            nginx:nginx ab:apache2-utils socat:socat dig:bind9-dnsutils host:bind9-dnsutils \
            openssl:openssl ss:iproute2 java:default-jdk-headless node:nodejs traceroute:traceroute \
            tracepath:iputils-tracepath hostname:hostname \
            redis-server:redis-server redis-benchmark:redis-tools git:git rsync:rsync \
            memcached:memcached psql:postgresql-client pgbench:postgresql-client vsftpd:vsftpd \
            ssh:openssh-client scp:openssh-client hey:hey \
            haproxy:haproxy; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
# file:package, for what has no command of its own.
for pair in /usr/lib/x86_64-linux-gnu/libc.a:libc6-dev /usr/sbin/sshd:openssh-server; do
  f=${pair%%:*} pkg=${pair#*:}
  [ -e "$f" ] || need+=("$pkg")
done
# The PostgreSQL server (its binaries live under a versioned directory).
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)
# python modules: module:package, for Debian's python (the one the tests run, /usr/bin/python3;
# Debian's packages, not pip: that python is externally managed).
py=/usr/bin/python3; [ -x "$py" ] || py=python3
for pair in grpc:python3-grpcio; do
  mod=${pair%%:*} pkg=${pair#*:}
  "$py" -c "import $mod" >/dev/null 2>&1 || need+=("$pkg")
done
# netcat-traditional also provides `nc`; the tests need the OpenBSD one (-N).
if command -v nc >/dev/null 2>&1 && ! nc -h 2>&1 | grep -q -- '-N'; then need+=(netcat-openbsd); fi
if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages ${need[*]} (run as root to install them)" >&2
    exit 0
  fi
  echo "install-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Packages with a service (nginx, redis-server, memcached, postgresql, vsftpd, openssh-server, haproxy) must not start it in the root namespace: the tests start
  # their own copies inside their namespaces. policy-rc.d exit 101 = "action forbidden".
  prc=/usr/sbin/policy-rc.d made_prc=0
  if [ ! -e "$prc" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$prc"; chmod 755 "$prc"; made_prc=1
    trap '[ $made_prc = 1 ] && rm -f "$prc"' EXIT
  fi
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null
fi
