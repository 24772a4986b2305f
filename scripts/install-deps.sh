#!/usr/bin/env bash
# Installs what tests, demo and benchmarks need on a fresh Debian machine (idempotent, quiet).
set -euo pipefail
need=()
for pair in ip:iproute2 ping:iputils-ping arping:iputils-arping tcpdump:tcpdump nc:netcat-openbsd \
            iperf3:iperf3 dnsmasq:dnsmasq-base curl:curl wget:wget python3:python3 gcc:gcc \
            strace:strace sha256sum:coreutils java:default-jdk-headless dig:bind9-dnsutils node:nodejs setpriv:util-linux timeout:coreutils awk:mawk; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
# netcat-traditional also provides `nc`; the tests need the OpenBSD one (-N).
if command -v nc >/dev/null 2>&1 && ! nc -h 2>&1 | grep -q -- '-N'; then need+=(netcat-openbsd); fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages ${need[*]} (run as root to install them)" >&2
    exit 0
  fi
  echo "install-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
