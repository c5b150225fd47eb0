#!/usr/bin/env bash
# Durable publish throughput with herald-bench: single-event HTTP requests over 64 keep-alive
# connections, HTTP batches of 100 events over 16 connections, and STOMP SEND over TCP (a RECEIPT
# every 100 frames, and one per frame) over 64 connections. Each run gets a fresh Herald (default
# durable settings: every group commit fsynced) and is checked against the topic's event count.
# Usage: bench/publish.sh [rounds] [seconds]   (after cargo build --release)
# Prints one JSON line per run, then the medians per scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/herald.sh
rounds="${1:-3}"
seconds="${2:-10}"
out=$(mktemp)

run() { # label, then herald-bench's publish flags
  local label=$1
  shift
  start_herald
  "$BENCH" --json --scenario publish --addr "$HTTP_ADDR" --stomp-addr "$STOMP_ADDR" \
    --server-pid "$HERALD_PID" --seconds "$seconds" "$@" | jq -c --arg tag "$label" '{label: $tag} + .' | tee -a "$out"
  stop_herald
}

for _ in $(seq "$rounds"); do
  run http --via http --connections 64
  run batch --via batch --batch 100 --connections 16
  run stomp-100 --via stomp --batch 100 --connections 64
  run stomp-1 --via stomp --batch 1 --connections 64
done
echo "medians of $rounds rounds, $(uptime | sed 's/.*load/load/'):"
for label in http batch stomp-100 stomp-1; do
  runs=$(jq -c --arg tag "$label" 'select(.label == $tag)' "$out")
  echo "$label: events/s $(median events_per_second <<<"$runs"), requests/s $(median requests_per_second <<<"$runs"), p50 $(median p50_ms <<<"$runs") ms, p99 $(median p99_ms <<<"$runs") ms, generator $(median generator_cores <<<"$runs") cores, server $(median server_cores <<<"$runs") cores"
done
rm -f "$out"
