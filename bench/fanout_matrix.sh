#!/usr/bin/env bash
# Fan-out across the issue's matrix: SSE, NDJSON and STOMP over WebSocket; 100, 1,000 and
# 10,000 subscribers; 100 B and 4 KB events; Herald and the floor interleaved (A B A B), each
# run a fresh generator. Appends JSON lines to bench/results/fanout.jsonl and draws the charts
# of docs/benchmarks.md into docs/img/ with herald-chart.
# Usage: bench/fanout_matrix.sh [rounds] (after cargo build --release -p herald -p herald-bench;
# HERALD and BENCH name other binaries, see bench/herald.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-1}"
. bench/herald.sh
results=bench/results/fanout.jsonl
mkdir -p bench/results
ulimit -n "$(ulimit -Hn)"
# 10,000 subscribers come from one address: lift the per-address cap for the run.
start_herald HERALD_LIMITS__CONNECTIONS_PER_IP=100000

run() { # target transport subscribers rate size
  local extra=()
  [ "$1" = herald ] && extra=(--addr "$HTTP_ADDR" --server-pid "$HERALD_PID")
  "$BENCH" --json --target "$1" --transport "$2" --subscribers "$3" --rate "$4" \
    --size "$5" --seconds 5 "${extra[@]}" | tee -a "$results" || echo "run failed: $*" >&2
}
for size in 100 4096; do
  for transport in sse ndjson stomp-ws; do
    # Offered load: 1,000 events/s to 100 and 1,000 subscribers, 100/s to 10,000.
    for scenario in "100 1000" "1000 1000" "10000 100"; do
      for _ in $(seq "$rounds"); do
        for target in herald floor; do
          # shellcheck disable=SC2086
          run "$target" "$transport" $scenario "$size"
        done
      done
    done
  done
done
"$(dirname "$BENCH")/herald-chart" --out docs/img "$results"
