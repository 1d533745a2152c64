#!/usr/bin/env bash
# Linearizability benchmark: the 102 Porcupine etcd histories, generated cas-register
# histories (unique values, initial 0, crashed clients; valid and with one planted stale
# read) decided by default (fast check for values written once) and by the search alone, FIFO
# queues with crashed clients, sets and a mutex at 30 clients, and a kv history of
# independent keys. One process per case, so "peak" is that case's peak resident memory.
# Usage: bench/lin/run.sh [--quick]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release -q -p labrys-lin --example lin_bench
bin="$CARGO_TARGET_DIR/release/examples/lin_bench"
data="$root/../shared/data/porcupine/jepsen"
if [ -d "$data" ]; then
  "$bin" etcd "$data"
else
  echo "SKIPPED etcd: ../shared/data not found"
fi
for n in "5000 16" "20000 16" "20000 30" "200000 30"; do
  "$bin" cas $n valid
  "$bin" cas $n invalid
done
# Values that repeat (0..5, as etcd's tests write): always searched. (No invalid variant: a
# planted stale read is often explained by another write of the same value.)
for n in "5000 16" "5000 30"; do
  LIN_BENCH_DOMAIN=5 timeout 60 "$bin" cas $n valid || echo "cas $n values 0..5: not decided within 60 s"
done
# One key of Jepsen's cas-register test (5 clients, values 0..5, crashed and refused cas), cut
# where a refused cas leaves a quiescent point after a long segment; and 100 such keys.
"$bin" cas1 1000 5 4 1997
LIN_BENCH_DOMAIN=5 timeout 120 "$bin" kv 100 1000 || echo "kv 100 keys x 1000 ops values 0..5: not decided within 120 s"
"$bin" cas 5000 16 valid search
"$bin" cas 5000 16 invalid search
if [ "${1:-}" != "--quick" ]; then
  "$bin" cas 20000 16 valid search
  "$bin" cas 20000 16 invalid search
  # 30 clients: the search alone exceeds its memory budget and answers unknown.
  timeout 120 "$bin" cas 20000 30 valid search || true
fi
"$bin" fifo 1000 5
"$bin" fifo 5000 16
"$bin" fifo 5000 16 42 invalid
# FIFO at 1,500 ops with the property tests' failure rate: how many of 12 seeds are decided
# within 5 s (a greedy linearization or a violation's core, else the search).
for c in 5 16; do
  decided=0
  for seed in $(seq 1 12); do
    if LIN_BENCH_FAIL=5 timeout 5 "$bin" fifo 1500 $c $seed | grep -q ": Valid"; then decided=$((decided + 1)); fi
  done
  echo "fifo 1500 ops $c clients: $decided/12 seeds decided within 5 s"
done
# Sets with values added once (decided without search) and a mutex, at 30 clients.
LIN_BENCH_FAIL=5 "$bin" set 1500 30 1
LIN_BENCH_FAIL=5 "$bin" set 20000 30 1
LIN_BENCH_FAIL=5 "$bin" mutex 1500 30 1
LIN_BENCH_FAIL=5 "$bin" mutex 20000 30 1
# A mutex that is not linearizable at 30 clients (one release dropped, no crashed op to
# explain it): searched, acquires and releases tried once each as twins.
for n in 1500 20000; do LIN_BENCH_CRASH=0 "$bin" mutex $n 30 42 invalid; done
# 30 clients, values that repeat (0..4 and 0..9), one key of 5,000 and 20,000 ops: searched
# by return, twins once, raced by invocation after 20k steps.
for d in 5 10; do
  for n in 5000 20000; do
    LIN_BENCH_DOMAIN=$d timeout 60 "$bin" cas1 $n 30 1 || echo "cas1 $n 30 values 0..$((d - 1)): not decided within 60 s"
  done
done
"$bin" kv 1000 1000
