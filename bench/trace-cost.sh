#!/usr/bin/env bash
# What tracing costs the TCP engine (issue 13). Builds stack/examples/trace_cost.rs twice: from
# this tree, and (tracer lines removed) from BASE (default: where this branch left main), then
# runs, interleaved, ROUNDS times each: base (no trace hooks at all), this tree with tracing off,
# with the ladder, with JSON events. Two TcpStacks in memory, MIB MiB one way; prints the medians in MiB/s.
#   bench/trace-cost.sh [MIB] [ROUNDS]      (defaults 256 and 9)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MIB=${1:-256}; ROUNDS=${2:-9}; BASE=${BASE:-$(git -C "$ROOT" merge-base HEAD main)}
B=$(mktemp -d /tmp/tapstack-trace-base.XXXXXX)
trap 'rm -rf "$B"' EXIT
cd "$ROOT"
cargo build --release -q --example trace_cost
git archive "$BASE" stack Cargo.toml Cargo.lock | tar -x -C "$B"
mkdir -p "$B/stack/examples"
sed -e '/TRACER BEGIN/,/TRACER END/d' -e '/trace_flush/d' stack/examples/trace_cost.rs > "$B/stack/examples/trace_cost.rs"
# The base workspace is the stack crate alone (preload/tools are not needed).
sed -i 's/^members = .*/members = ["stack"]/' "$B/Cargo.toml"
(cd "$B" && CARGO_TARGET_DIR="$B/target" cargo build --release -q --example trace_cost)
new=$ROOT/target/release/examples/trace_cost; base=$B/target/release/examples/trace_cost
declare -A r
for ((i = 0; i < ROUNDS; i++)); do
  r[base]+=" $("$base" off "$MIB" | awk '{print $4}')"
  for m in off ladder events; do r[$m]+=" $("$new" "$m" "$MIB" | awk '{print $4}')"; done
done
med() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "trace cost: two TcpStacks in memory, $MIB MiB one way, median of $ROUNDS interleaved runs (MiB/s)"
echo "| build | tracing | MiB/s | runs |"
echo "|---|---|---:|---|"
echo "| base $(git rev-parse --short "$BASE") | (no hooks) | $(echo "${r[base]}" | med) | ${r[base]# } |"
for m in off ladder events; do
  echo "| trace ($(git rev-parse --short HEAD)) | $m | $(echo "${r[$m]}" | med) | ${r[$m]# } |"
done
