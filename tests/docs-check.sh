#!/usr/bin/env bash
# tests/docs-check.sh (part of `make lint`): what README.md, docs/*.md and tests/net/README.md
# name must exist in the tree:
#   - every file path (`stack/src/phy/tap.rs`, `phy/tap.rs`, `tests/net/t_*.sh`, links [x](y.md)),
#     looked up from the repository root and from the usual source roots (stack/src/,
#     stack/src/socket/, preload/src/, tests/net/, c-tests/, bench/, scripts/);
#   - every `make TARGET` (a target of the Makefile) and `cargo test ... --test NAME`
#     (stack/tests/NAME.rs or preload/tests/NAME.rs);
#   - every TAPSTACK_*, COMPARE_*, BENCH_* variable (used somewhere in the code or scripts);
#   - every file under stack/src/socket that names Ipv4Addr/SocketAddrV4 is listed in the table
#     of docs/tcp.md, section "IPv4 at the transport boundary", and every file listed there does.
# Prints one line per missing name and exits 1 if there is any. Plain bash + grep (runs before
# `make deps`).
set -u
cd "$(dirname "$0")/.."

DOCS=(README.md docs/*.md tests/net/README.md)
# Names documented ahead of the branch that adds them (allowed missing, reported as pending).
# Empty this list as the branches land.
PENDING=()
declare -A PENDING_SEEN=()
ROOTS=("" stack/src/ stack/src/socket/ preload/src/ stack/ tests/net/ c-tests/ bench/ scripts/)
KNOWN_DIRS='^(stack|preload|tests|c-tests|bench|scripts|docs|wire|iface|socket|phy|runtime|service|dns|client|bin|svc|tcp|\.ci|tools|fuzz)/'
EXT='\.(rs|sh|c|h|md|py|toml|json|jsonl|txt|java|svg)$'

fail=0
missing() { echo "docs-check: $1: $2" >&2; fail=1; }
pending() {
  local p
  for p in "${PENDING[@]}"; do
    case "$1" in "$p" | "$p"/* | */"$p" | */"$p"/*) return 0 ;; esac
  done
  return 1
}

# exists PATH DOCDIR: true if PATH (a glob allowed) names something from one of the roots.
exists() {
  local p=${1%/} dir=$2 r
  for r in "${ROOTS[@]}" "$dir/"; do
    [ "$r" = "./" ] && r=""
    compgen -G "$r$p" >/dev/null && return 0
  done
  # A program built from c-tests/X.c (c-tests/X or c-tests/bin/X).
  case $p in c-tests/bin/*) [ -f "c-tests/${p#c-tests/bin/}.c" ] && return 0 ;; c-tests/*) [ -f "$p.c" ] && return 0 ;; esac
  # A bare file name: anywhere in the tree.
  if [[ $p != */* ]]; then
    [ -n "$(find . -path ./target -prune -o -path ./.git -prune -o -name "$p" -print -quit)" ] && return 0
  fi
  return 1
}

# check_path TOKEN DOC STRICT: STRICT=1 for backticked tokens and links (a known directory
# prefix is enough to make it a path); otherwise only names with a file extension count.
check_path() {
  local t=$1 doc=$2 strict=$3
  t=${t#./}
  t=${t%%:[0-9]*}
  t=${t%[.,;:)]}
  case $t in
    '' | /* | *'<'* | *'>'* | *'{'* | *'}'* | *'…'* | *'...'* | *'$'* | *'~'* | *NN* | *XX* | target/* | http*) return 0 ;;
  esac
  [[ $t == */* || $t =~ $EXT ]] || return 0
  [[ ${t##*/} =~ ^[A-Z][A-Z0-9_]*\.[a-z]+$ ]] && return 0   # a placeholder: EVENTS.jsonl, OUT.svg
  if [ "$strict" = 1 ]; then
    [[ $t =~ $KNOWN_DIRS || $t =~ $EXT ]] || return 0
  else
    [[ $t =~ $EXT ]] || return 0
  fi
  exists "$t" "$(dirname "$doc")" && return 0
  pending "$t" && { PENDING_SEEN[$t]=1; return 0; }
  missing "$doc" "no such file: $t"
}

for doc in "${DOCS[@]}"; do
  [ -f "$doc" ] || continue
  # Backticked spans, one per line (commands keep their words).
  spans=$(grep -o '`[^`]*`' "$doc" | tr -d '`')
  # Markdown link targets.
  links=$(grep -o '](\([^)#]*\)' "$doc" | sed 's/^](//')
  # Code: fenced blocks and 4-space indented lines.
  code=$(awk '/^```/{f=!f; next} f || /^    [^ -]/' "$doc" | sed 's/#.*//; s/^ *//')

  while IFS= read -r w; do
    [ -n "$w" ] && check_path "$w" "$doc" 1
  done < <(printf '%s\n' "$spans" | tr ' =' '\n\n'; printf '%s\n' "$links")
  while IFS= read -r w; do
    [ -n "$w" ] && check_path "$w" "$doc" 0
  done < <(printf '%s\n' "$code" | tr ' =|(' '\n\n\n\n')

  # make targets and cargo integration tests named in spans and code.
  cmds=$(printf '%s\n%s\n' "$spans" "$code")
  while IFS= read -r target; do
    grep -qE "^$target:" Makefile || missing "$doc" "no make target: make $target"
  done < <(printf '%s\n' "$cmds" | grep -oE '(^|[;&(] *)make [a-z][a-z-]*' | awk '{print $NF}' | sort -u)
  while IFS= read -r name; do
    [ -f "stack/tests/$name.rs" ] || [ -f "preload/tests/$name.rs" ] || missing "$doc" "no integration test: --test $name"
  done < <(printf '%s\n' "$cmds" | grep -oE -- '--test [a-z_0-9]+' | awk '{print $2}' | sort -u)

  # Environment variables.
  while IFS= read -r v; do
    grep -rqs --exclude='*.md' --exclude-dir=target --exclude-dir=.git -- "$v" stack preload scripts tests c-tests bench Makefile .ci && continue
    pending "$v" && { PENDING_SEEN[$v]=1; continue; }
    missing "$doc" "variable used nowhere in the code: $v"
  done < <(grep -oE '\b(TAPSTACK|COMPARE|BENCH)_[A-Z0-9_]*[A-Z0-9]' "$doc" | sort -u)
done

# The files under stack/src/socket that name IPv4 types are listed in docs/tcp.md.
# The table's rows (lines starting with |) name the files; both directions are checked.
listed=$(awk '/^## IPv4 at the transport boundary/{f=1; next} /^## /{f=0} f && /^\|/' docs/tcp.md | grep -o '`[^`]*`' | tr -d '`')
declare -A in_list=()
while IFS= read -r t; do
  for f in $(compgen -G "stack/src/$t"); do in_list[$f]=1; done
done <<<"$listed"
while IFS= read -r f; do
  [ -n "${in_list[$f]:-}" ] || missing docs/tcp.md "names Ipv4Addr/SocketAddrV4 but is not listed in \"IPv4 at the transport boundary\": $f"
done < <(grep -rl 'Ipv4Addr\|SocketAddrV4' stack/src/socket)
for f in "${!in_list[@]}"; do
  case $f in stack/src/socket/*) ;; *) continue ;; esac
  [ -d "$f" ] && continue
  grep -q 'Ipv4Addr\|SocketAddrV4' "$f" || missing docs/tcp.md "listed in \"IPv4 at the transport boundary\" but names no IPv4 type (remove the row): $f"
done

if [ "${#PENDING_SEEN[@]}" != 0 ]; then
  echo "docs-check: named but pending (on a branch not merged yet): ${!PENDING_SEEN[*]}"
fi
if [ "$fail" = 0 ]; then echo "docs-check: ok (${#DOCS[@]} files)"; fi
exit "$fail"
