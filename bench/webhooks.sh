#!/usr/bin/env bash
# Webhook deliveries per second to herald-bench's local receiver, 100 subscriptions on one topic,
# without and with one hung endpoint (it reads each request and never answers), interleaved
# A B A B, each run on a fresh Herald whose SSRF guard lets webhooks reach loopback.
# Usage: bench/webhooks.sh [rounds] [rate] [seconds]   (after cargo build --release)
# Prints one JSON line per run, then the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/herald.sh
rounds="${1:-3}"
rate="${2:-100}"
seconds="${3:-10}"
out=$(mktemp)

for _ in $(seq "$rounds"); do
  for hung in 0 1; do
    start_herald HERALD_WEBHOOKS__ALLOW_NETWORKS=127.0.0.0/8
    "$BENCH" --json --scenario webhooks --addr "$HTTP_ADDR" --server-pid "$HERALD_PID" \
      --subscriptions 100 --hung "$hung" --rate "$rate" --seconds "$seconds" | tee -a "$out"
    stop_herald
  done
done
echo "medians of $rounds rounds, $(uptime | sed 's/.*load/load/'):"
for hung in 0 1; do
  runs=$(jq -c --argjson hung "$hung" 'select(.hung == $hung)' "$out")
  echo "hung=$hung: deliveries/s $(median deliveries_per_second <<<"$runs") (offered $(median offered_per_second <<<"$runs")), per subscription $(median per_subscription <<<"$runs")/s, slowest $(median slowest_subscription <<<"$runs")/s, p50 $(median p50_ms <<<"$runs") ms, p99 $(median p99_ms <<<"$runs") ms, generator $(median generator_cores <<<"$runs") cores, server $(median server_cores <<<"$runs") cores"
done
rm -f "$out"
