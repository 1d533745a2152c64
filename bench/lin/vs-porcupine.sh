#!/usr/bin/env bash
# labrys vs Porcupine on the same history files (issue 16: "never slower than Porcupine").
#
# Generates families of cas-register and kv histories (checker/lin/examples/lin_histories.rs:
# clients, value domains, crash and refusal rates, lengths; valid and with one planted stale
# read), checks each file with `labrys check` and with bench/lin/porcupine-driver (Porcupine
# through its public API, same semantics), one process per tool and file, and prints a
# markdown table: verdicts, wall-clock seconds of each process (reading included), peak RSS,
# and the ratio Porcupine time / labrys time (> 1: labrys faster). Then the worst and median
# ratio, and the files where labrys is slower or where only one tool decides.
#
# With ../shared/data (next to the repository) it first checks both tools on the corpus's
# cas-register histories whose verdicts are known (Porcupine's etcd runs, Knossos's data).
#
# Needs: PORCUPINE_DIR (a Porcupine checkout), go, cargo. Otherwise prints SKIPPED, exits 0.
# Usage: PORCUPINE_DIR=DIR bench/lin/vs-porcupine.sh [--no-corpus] [--keep DIR]
# Environment: LIN_VS_TIMEOUT (seconds per tool and file, default 20), LIN_VS_MEMORY (address
# space cap per process, KiB, default 8 GiB), LIN_VS_REPEAT (runs of files both tools check
# in under 1 s, best time kept; default 5), LIN_VS_ONLY (a regex on file names).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
corpus=1
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-corpus) corpus=0 ;;
    --keep) keep="$2"; shift ;;
    *) echo "usage: PORCUPINE_DIR=DIR $0 [--no-corpus] [--keep DIR]" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "${PORCUPINE_DIR:-}" ] || [ ! -f "${PORCUPINE_DIR}/go.mod" ]; then
  echo "SKIPPED: set PORCUPINE_DIR to a Porcupine checkout (github.com/anishathalye/porcupine)"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "SKIPPED: go not found (Debian: apt-get install golang-go)"
  exit 0
fi
PORCUPINE_DIR="$(cd "$PORCUPINE_DIR" && pwd)"
timeout_s="${LIN_VS_TIMEOUT:-20}"
mem_kib="${LIN_VS_MEMORY:-8388608}"
repeat="${LIN_VS_REPEAT:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Build both.
cargo build --release -q --bin labrys || exit 1
cargo build --release -q -p labrys-lin --example lin_histories || exit 1
labrys="$CARGO_TARGET_DIR/release/labrys"
gen="$CARGO_TARGET_DIR/release/examples/lin_histories"
cp -r "$root/bench/lin/porcupine-driver" "$work/driver"
(cd "$work/driver" &&
  go mod edit -replace "github.com/anishathalye/porcupine=$PORCUPINE_DIR" &&
  GOFLAGS=-mod=mod go build -o "$work/porcupine-driver" .) || exit 1
driver="$work/porcupine-driver"
porc_rev="$(git -C "$PORCUPINE_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)"
porc_tag="$(git -C "$PORCUPINE_DIR" describe --tags 2>/dev/null || echo -)"

# run TOOL WORKLOAD INITIAL FILE: prints "verdict seconds peak_MiB check_seconds" (the last:
# the check alone as the tool itself timed it, reading excluded; "-" when it printed none).
run() {
  local tool="$1" workload="$2" initial="$3" file="$4" rc t0 t1 verdict
  t0=$(date +%s%N)
  if [ "$tool" = labrys ]; then
    (ulimit -v "$mem_kib"; exec /usr/bin/time -f '%e %M' -o "$work/time" \
      timeout -k 5 $((timeout_s + 10)) "$labrys" check --workload "$workload" \
      --initial "$initial" --time-limit "$timeout_s" --memory-limit $((mem_kib / 2))K \
      --json "$file") >"$work/out" 2>"$work/err"
  else
    (ulimit -v "$mem_kib"; exec /usr/bin/time -f '%e %M' -o "$work/time" \
      timeout -k 5 $((timeout_s + 10)) "$driver" -workload "$workload" -initial "$initial" \
      -timeout "$timeout_s" "$file") >"$work/out" 2>"$work/err"
  fi
  rc=$?
  t1=$(date +%s%N)
  if [ "$tool" = labrys ]; then
    case $rc in 0) verdict=valid ;; 1) verdict=invalid ;; 2) verdict=unknown ;; 124 | 137) verdict=timeout ;; *) verdict="error($rc)" ;; esac
  else
    verdict=$(sed -n 's/.*"verdict":"\([a-z]*\)".*/\1/p' "$work/out")
    if [ -z "$verdict" ]; then
      case $rc in 124 | 137) verdict=timeout ;; *) if grep -q 'out of memory' "$work/err"; then verdict=oom; else verdict="error($rc)"; fi ;; esac
    fi
  fi
  local kib check read_s
  kib=$(awk 'END {print $2}' "$work/time" 2>/dev/null)
  check=$(sed -n 's/.*"\(check_seconds\|check_s\)":\([0-9.eE+-]*\).*/\2/p' "$work/out" | head -1)
  # labrys's check_seconds includes reading the file (read_seconds): the check is the rest.
  read_s=$(sed -n 's/.*"read_seconds":\([0-9.eE+-]*\).*/\1/p' "$work/out" | head -1)
  [ -n "$check" ] && [ -n "$read_s" ] && check=$(awk -v c="$check" -v r="$read_s" 'BEGIN {print c - r}')
  echo "$verdict $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}') $(awk -v k="${kib:-0}" 'BEGIN {printf "%.0f", k / 1024}') $(awk -v c="${check:--1}" 'BEGIN {if (c < 0) print "-"; else printf "%.6f", c}')"
}

decided() { [ "$1" = valid ] || [ "$1" = invalid ]; }

echo "# labrys vs Porcupine"
echo
echo "Porcupine $porc_tag ($porc_rev), $(go version | awk '{print $3}'); labrys $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo -);" \
  "$(nproc) cores; ${timeout_s} s and $((mem_kib / 1048576)) GiB per tool and file; $(date -u +%Y-%m-%d)."
echo

# 1. Histories with known verdicts.
data="$root/../shared/data"
if [ "$corpus" = 1 ] && [ -f "$data/corpus.json" ]; then
  "$gen" corpus "$data" "$work/corpus" || exit 1
  n=0; l_ok=0; p_ok=0; disagree=0; l_sum=0; p_sum=0
  wrong=""
  while IFS=$'\t' read -r file workload initial source expected; do
    [ "$file" = file ] && continue
    read -r lv lt _ < <(run labrys "$workload" "$initial" "$work/corpus/$file")
    read -r pv pt _ < <(run porcupine "$workload" "$initial" "$work/corpus/$file")
    n=$((n + 1))
    [ "$lv" = "$expected" ] && l_ok=$((l_ok + 1))
    [ "$pv" = "$expected" ] && p_ok=$((p_ok + 1))
    [ "$lv" != "$expected" ] || [ "$pv" != "$expected" ] && wrong="$wrong $file(expected $expected: labrys $lv, Porcupine $pv)"
    if decided "$lv" && decided "$pv" && [ "$lv" != "$pv" ]; then disagree=$((disagree + 1)); fi
    l_sum=$(awk -v a="$l_sum" -v b="$lt" 'BEGIN {print a + b}')
    p_sum=$(awk -v a="$p_sum" -v b="$pt" 'BEGIN {print a + b}')
  done <"$work/corpus/manifest.tsv"
  echo "## Histories with known verdicts ($n: the cas-register histories of corpus.json, Porcupine's etcd runs among them, and two kv histories made of etcd runs)"
  echo
  echo "- labrys: $l_ok/$n as the source says, $(printf %.2f "$l_sum") s in all (one process each);"
  echo "- Porcupine driver: $p_ok/$n as the source says, $(printf %.2f "$p_sum") s in all;"
  if [ "$disagree" -gt 0 ]; then echo "- **DISAGREE on $disagree files**"; fi
  if [ -n "$wrong" ]; then echo "- **not as the source says:**$wrong"; fi
  echo
fi

# 2. Generated families.
"$gen" families "$work/gen" || exit 1
# The floor: one read, best of $repeat runs each (process start, reading, nothing to search).
printf '%s\n' '{"index":0,"type":"invoke","process":0,"f":"read","value":null}' \
  '{"index":1,"type":"ok","process":0,"f":"read","value":0}' >"$work/one-read.jsonl"
floor_l=99; floor_p=99
for _ in $(seq 1 "$repeat"); do
  read -r _ t _ < <(run labrys cas-register 0 "$work/one-read.jsonl")
  floor_l=$(awk -v a="$floor_l" -v b="$t" 'BEGIN {print (b < a ? b : a)}')
  read -r _ t _ < <(run porcupine cas-register 0 "$work/one-read.jsonl")
  floor_p=$(awk -v a="$floor_p" -v b="$t" 'BEGIN {print (b < a ? b : a)}')
done
[ -n "$keep" ] && mkdir -p "$keep" && cp "$work/gen"/* "$keep/"
rows="$work/rows.tsv"
: >"$rows"
echo "## Generated histories"
echo
echo "Ratio: Porcupine seconds / labrys seconds (> 1: labrys faster), wall clock of each process."
echo "Check ratio: the same for the check alone, as each tool times it (reading and process start"
echo "excluded; labrys's includes turning calls into model ops, Porcupine's excludes building events)."
echo "Files both tools check in under 1 s: best of $repeat runs each. The floor (a one-read history):"
echo "labrys $floor_l s, Porcupine $floor_p s. Crash and refusal: the simulator's percent chance"
echo "per step (crash 1: ~3% of calls crash; 4: ~10%); \"crashed\" counts info calls."
echo
echo "| family | file | calls | clients | domain | crashed | expected | labrys | Porcupine | labrys s | Porcupine s | labrys MiB | Porcupine MiB | ratio | labrys check s | Porcupine check s | check ratio | |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
while IFS=$'\t' read -r file workload family keys calls clients domain crash fail crashed failed planted expected; do
  [ "$file" = file ] && continue
  if [ -n "${LIN_VS_ONLY:-}" ] && ! [[ "$file" =~ $LIN_VS_ONLY ]]; then continue; fi
  read -r lv lt lm lc < <(run labrys "$workload" 0 "$work/gen/$file")
  read -r pv pt pm pc < <(run porcupine "$workload" 0 "$work/gen/$file")
  # Fast files are dominated by process start and the machine's noise: best of $repeat.
  if awk -v a="$lt" -v b="$pt" 'BEGIN {exit !(a < 1 && b < 1)}'; then
    for _ in $(seq 2 "$repeat"); do
      read -r _ t _ c < <(run labrys "$workload" 0 "$work/gen/$file")
      lt=$(awk -v a="$lt" -v b="$t" 'BEGIN {print (b < a ? b : a)}')
      lc=$(awk -v a="$lc" -v b="$c" 'BEGIN {print (b < a ? b : a)}')
      read -r _ t _ c < <(run porcupine "$workload" 0 "$work/gen/$file")
      pt=$(awk -v a="$pt" -v b="$t" 'BEGIN {print (b < a ? b : a)}')
      pc=$(awk -v a="$pc" -v b="$c" 'BEGIN {print (b < a ? b : a)}')
    done
  fi
  cratio="-"
  if decided "$lv" && decided "$pv" && [ "$lc" != - ] && [ "$pc" != - ]; then
    cratio=$(awk -v p="$pc" -v l="$lc" 'BEGIN {printf "%.2f", p / (l > 0.000001 ? l : 0.000001)}')
  fi
  note=""
  ratio="-"
  if decided "$lv" && decided "$pv"; then
    ratio=$(awk -v p="$pt" -v l="$lt" 'BEGIN {printf "%.2f", p / (l > 0 ? l : 0.001)}')
    [ "$lv" != "$pv" ] && note="**DISAGREE**"
  elif decided "$lv"; then
    ratio=$(awk -v p="$pt" -v l="$lt" 'BEGIN {printf "> %.0f", p / (l > 0 ? l : 0.001)}')
    note="only labrys decides"
  elif decided "$pv"; then
    ratio=$(awk -v p="$pt" -v l="$lt" 'BEGIN {printf "< %.2f", p / (l > 0 ? l : 0.001)}')
    note="**only Porcupine decides**"
  fi
  for v in "$lv:labrys" "$pv:Porcupine"; do
    if decided "${v%%:*}" && [ "$expected" != "?" ] && [ "${v%%:*}" != "$expected" ]; then
      note="$note **WRONG (${v#*:})**"
    fi
  done
  echo "| $family | ${file%.jsonl} | $calls | $clients | $domain | $crashed | $expected | $lv | $pv | $lt | $pt | $lm | $pm | $ratio | $lc | $pc | $cratio | $note |"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$file" "$lv" "$pv" "$lt" "$pt" "$ratio" "$note" "$family" "$cratio" >>"$rows"
done <"$work/gen/manifest.tsv"
echo

# 3. Summary.
both=$(awk -F'\t' '$6 ~ /^[0-9.]+$/' "$rows" | wc -l)
total=$(wc -l <"$rows")
l_dec=$(awk -F'\t' '$2 == "valid" || $2 == "invalid"' "$rows" | wc -l)
p_dec=$(awk -F'\t' '$3 == "valid" || $3 == "invalid"' "$rows" | wc -l)
echo "## Summary"
echo
echo "- files: $total; labrys decided $l_dec, Porcupine decided $p_dec, both $both"
if [ "$both" -gt 0 ]; then
  awk -F'\t' '$6 ~ /^[0-9.]+$/ {print $6 "\t" $1}' "$rows" | sort -g >"$work/ratios"
  worst=$(head -1 "$work/ratios")
  median=$(awk -F'\t' '{r[NR] = $1} END {if (NR % 2) print r[(NR + 1) / 2]; else printf "%.2f\n", (r[NR / 2] + r[NR / 2 + 1]) / 2}' "$work/ratios")
  echo "- ratio over the $both files both decided: worst ${worst%%$'\t'*} (${worst#*$'\t'}), median $median"
  awk -F'\t' '$9 ~ /^[0-9.]+$/ {print $9 "\t" $1}' "$rows" | sort -g >"$work/cratios"
  if [ -s "$work/cratios" ]; then
    worst=$(head -1 "$work/cratios")
    median=$(awk -F'\t' '{r[NR] = $1} END {if (NR % 2) print r[(NR + 1) / 2]; else printf "%.2f\n", (r[NR / 2] + r[NR / 2 + 1]) / 2}' "$work/cratios")
    echo "- check ratio over the same files: worst ${worst%%$'\t'*} (${worst#*$'\t'}), median $median"
  fi
fi
cslower=$(awk -F'\t' '$9 ~ /^[0-9.]+$/ && $9 < 1 {printf " %s (%s)", $1, $9}' "$rows")
echo "- labrys's check slower than Porcupine's:${cslower:- none}"
slower=$(awk -F'\t' '$6 ~ /^[0-9.]+$/ && $6 < 1 {printf " %s (%s)", $1, $6}' "$rows")
echo "- labrys slower than Porcupine:${slower:- none}"
only=$(awk -F'\t' '$7 ~ /only/ {printf " %s (labrys %s, Porcupine %s)", $1, $2, $3}' "$rows")
echo "- only one tool decides:${only:- none}"
neither=$(awk -F'\t' '$6 == "-" {printf " %s", $1}' "$rows")
echo "- neither decides:${neither:- none}"
bad=$(awk -F'\t' '$7 ~ /DISAGREE|WRONG/ {printf " %s (labrys %s, Porcupine %s)", $1, $2, $3}' "$rows")
if [ -n "$bad" ]; then
  echo "- **DISAGREE or WRONG:$bad**"
  exit 1
fi
echo "- verdicts: no disagreement, none against the expected verdict"
