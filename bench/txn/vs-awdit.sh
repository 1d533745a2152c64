#!/usr/bin/env bash
# labrys vs AWDIT (Møldrup et al., PLDI 2025) on the same histories: read committed, read
# atomic and causal consistency (issue 14: "at least as fast as AWDIT on the same inputs with
# less memory").
#
# One causally consistent rw-register history from labrys's generator
# (`CausalConfig::awdit_like`: 1,001 sessions, Zipf keys, 80% reads), written twice by
# checker/txn/examples/causal_history.rs: as JSON lines for labrys and in the Plume text
# format AWDIT reads. Each tool checks each level in its own process; the script prints
# verdicts, each tool's own timing of its check (reading excluded), the whole process's
# wall-clock time (reading included) and peak RSS, and the ratios AWDIT / labrys (> 1: labrys
# faster or smaller).
#
# Levels: AWDIT's read-committed is Biswas–Enea's (labrys: read-committed-be), read-atomic
# and causal are Cerone's (labrys: read-atomic, causal-cerone).
#
# Needs: AWDIT_DIR (an AWDIT checkout, github.com/lassemoldrup/AWDIT), cargo. Otherwise prints
# SKIPPED and exits 0.
# Usage: AWDIT_DIR=DIR bench/txn/vs-awdit.sh [TXNS]   (default 250,000: about 1M micro-ops)
# AWDIT_DIR must hold its tools/dbcop submodule (git submodule update --init), which cargo
# needs to resolve even when the dbcop feature is off. AWDIT_KEYS: keys of the AWDIT-generated
# history (default 10,000).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
txns="${1:-250000}"
if [ -z "${AWDIT_DIR:-}" ] || [ ! -f "${AWDIT_DIR}/Cargo.toml" ]; then
  echo "SKIPPED: set AWDIT_DIR to an AWDIT checkout (github.com/lassemoldrup/AWDIT)"
  exit 0
fi
AWDIT_DIR="$(cd "$AWDIT_DIR" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$root" && cargo build --release -q --bin labrys &&
  cargo build --release -q -p labrys-txn --example causal_history) || exit 1
(cd "$AWDIT_DIR" && CARGO_TARGET_DIR="$work/awdit-target" cargo build --release -q) || exit 1
labrys="$CARGO_TARGET_DIR/release/labrys"
gen="$CARGO_TARGET_DIR/release/examples/causal_history"
awdit="$work/awdit-target/release/awdit"
awdit_rev="$(git -C "$AWDIT_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)"

# plume2jsonl IN OUT: a Plume history (AWDIT's generator's) as Jepsen JSON lines for labrys:
# each transaction an invoke and an ok of its session's process, sessions taken in turn
# (Plume has no real time; the levels compared here do not use it); value 0 is the initial
# state (its writes dropped, its reads nil); aborted writes (txn -1) dropped.
plume2jsonl() {
  python3 - "$1" "$2" <<'PY'
import json, re, sys
pat = re.compile(r"([rw])\((\d+),(\d+),(\d+),(-?\d+)\)")
sessions, txns = {}, {}
for line in open(sys.argv[1]):
    m = pat.match(line)
    if not m:
        continue
    op, k, v, s, t = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5))
    if t < 0 or (op == "w" and v == 0):
        continue
    if t not in txns:
        txns[t] = []
        sessions.setdefault(s, []).append(t)
    txns[t].append([op, k, None if v == 0 else v])
with open(sys.argv[2], "w") as out:
    queues = [(p, list(reversed(ts))) for p, ts in enumerate(sessions.values())]
    while queues:
        for p, q in queues:
            mops = txns[q.pop()]
            inv = [[o, k, None if o == "r" else v] for o, k, v in mops]
            out.write(json.dumps({"type": "invoke", "process": p, "f": "txn", "value": inv}) + "\n")
            out.write(json.dumps({"type": "ok", "process": p, "f": "txn", "value": mops}) + "\n")
        queues = [(p, q) for p, q in queues if q]
PY
}

echo "labrys $(git -C "$root" rev-parse --short HEAD), AWDIT $awdit_rev; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$gen" "$work/h.jsonl" "$txns" || exit 1
"$gen" "$work/h.txt" "$txns" || exit 1
# AWDIT's own generator: 1,000,000 events (micro-ops), hence sqrt = 1,000 sessions (and one
# for the initial values), AWDIT_KEYS keys (default 10,000), causally consistent.
"$awdit" generate -e 1000000 -l "${AWDIT_KEYS:-10000}" -i causal "$work/a.txt" >/dev/null || exit 1
plume2jsonl "$work/a.txt" "$work/a.jsonl" || exit 1

compare() {
  local name="$1" jsonl="$2" txt="$3"
echo
echo "$name"
echo
echo "| level | labrys verdict | AWDIT verdict | labrys check s | AWDIT check s | check ratio | labrys process s | AWDIT process s | process ratio | labrys MiB | AWDIT MiB | memory ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  for pair in "read-committed-be read-committed" "read-atomic read-atomic" "causal-cerone causal"; do
  set -- $pair
  ours="$1" theirs="$2"
  /usr/bin/time -f '%e %M' -o "$work/t1" "$labrys" check --workload rw-register \
    --consistency-models "$ours" --json "$jsonl" >"$work/o1" 2>/dev/null
  read -r lw lm <"$work/t1"
  read -r lv lc < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
s = r["stats"]
print("valid" if r["valid"] is True else r["valid"], s["check_seconds"] - s["read_seconds"])' "$work/o1")
  /usr/bin/time -f '%e %M' -o "$work/t2" "$awdit" check -i "$theirs" "$txt" >"$work/o2" 2>&1
  read -r aw am <"$work/t2"
  av=$(grep -q '^Consistent' "$work/o2" && echo valid || (grep -q '^Inconsistent' "$work/o2" && echo invalid || echo error))
  ac=$(sed -n 's/^Done checking: \([0-9]*\)ms/\1/p' "$work/o2")
  python3 - "$ours" "$lv" "$av" "$lc" "$ac" "$lw" "$aw" "$lm" "$am" <<'PY'
import sys
lvl, lv, av, lc, ac, lw, aw, lm, am = sys.argv[1:]
lc, ac, lw, aw, lm, am = float(lc), float(ac) / 1000, float(lw), float(aw), int(lm) / 1024, int(am) / 1024
r = lambda a, b: f"{a / b:.2f}" if b > 0 else "-"
print(f"| {lvl} | {lv} | {av} | {lc:.2f} | {ac:.2f} | {r(ac, lc)} | {lw:.2f} | {aw:.2f} | {r(aw, lw)} | {lm:.0f} | {am:.0f} | {r(am, lm)} |")
PY
done
}
compare "labrys's generator (CausalConfig::awdit_like, $txns transactions, 16 replicas, $(grep -c . "$work/h.txt") micro-ops)" "$work/h.jsonl" "$work/h.txt"
compare "AWDIT's generator (1,000,000 micro-ops, 1,001 sessions, ${AWDIT_KEYS:-10000} keys)" "$work/a.jsonl" "$work/a.txt"
