#!/usr/bin/env bash
# Herald against the floor (herald-bench's bare Tokio broadcast server), A B A B interleaved.
# Usage: bench/compare_floor.sh [rounds] (after cargo build --release; default 3 rounds)
#   1. throughput at 1,000 subscribers x 1,000 events/s, 100 B, 5 s: STOMP over WebSocket, SSE
#      and STOMP over TCP;
#   2. latency at fixed loads below capacity, STOMP over WebSocket and SSE, 10 s: 100 x 100/s,
#      1,000 x 10/s, 100 x 1,000/s (the last is also STOMP/WS throughput at 100 subscribers).
# Prints one JSON line per run, then the medians per scenario; docs/benchmarks.md quotes them.
# HERALD and BENCH name the binaries (default target/release/...). Herald runs get --server-pid,
# so they report the server's CPU; the floor runs inside the generator, whose CPU is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
. bench/herald.sh
start_herald
results=$(mktemp)
trap 'stop_herald; rm -f "$results"' EXIT

run() { # target transport subscribers rate seconds
  local args=(--json --target "$1" --transport "$2" --subscribers "$3" --rate "$4" --seconds "$5")
  if [ "$1" = herald ]; then
    args+=(--addr "$HTTP_ADDR" --stomp-addr "$STOMP_ADDR" --server-pid "$HERALD_PID")
  fi
  "$BENCH" "${args[@]}" | tee -a "$results"
}

echo "load before: $(uptime)" >&2
for scenario in "stomp-ws 1000 1000" "sse 1000 1000" "stomp 1000 1000"; do
  for _ in $(seq "$rounds"); do
    for target in herald floor; do
      # shellcheck disable=SC2086
      run "$target" $scenario 5
    done
  done
done
for transport in stomp-ws sse; do
  for load in "100 100" "1000 10" "100 1000"; do
    for _ in $(seq "$rounds"); do
      for target in herald floor; do
        # shellcheck disable=SC2086
        run "$target" "$transport" $load 10
      done
    done
  done
done
echo "load after: $(uptime)" >&2

echo "medians of $rounds rounds:"
jq -s -r '
  def median: sort | .[(length - 1) / 2 | floor];
  group_by([.transport, .subscribers, .rate, .target])[]
  | "\(.[0].transport) \(.[0].subscribers) x \(.[0].rate)/s \(.[0].target):"
    + " \(map(.deliveries_per_second) | median) deliveries/s of \(.[0].offered_per_second),"
    + " p50 \(map(.p50_ms) | median) ms, p99 \(map(.p99_ms) | median) ms,"
    + " p99.9 \(map(.p999_ms) | median) ms, generator CPU \(map(.generator_cores) | median),"
    + " server CPU \(map(.server_cores // 0) | median)"' "$results"
