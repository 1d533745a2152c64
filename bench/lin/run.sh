#!/usr/bin/env bash
# Linearizability benchmark: the 102 Porcupine etcd histories, generated cas-register
# histories (unique values, initial 0, crashed clients; valid and with one planted stale
# read), and a kv history of independent keys. One process per case, so "peak" is that case's
# peak resident memory. Usage: bench/lin/run.sh [--quick]
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
"$bin" cas 5000 16 valid
"$bin" cas 5000 16 invalid
"$bin" cas 20000 16 valid
"$bin" cas 20000 16 invalid
if [ "${1:-}" != "--quick" ]; then
  # 30 clients: currently exceeds the memory budget and answers unknown (see README).
  timeout 120 "$bin" cas 20000 30 valid || true
fi
"$bin" kv 1000 1000
