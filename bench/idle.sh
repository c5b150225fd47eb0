#!/usr/bin/env bash
# Idle connections: how many WebSocket (STOMP sessions, each subscribed) and SSE connections
# Herald holds, and its resident memory per connection, spread over 64 loopback source addresses.
# Each step gets a fresh Herald with no connection cap (`http.max_connections`) and no per-address
# limit (`limits.connections_per_ip`).
# Usage: bench/idle.sh [connections...]   (default 10000 50000 100000; after cargo build --release)
# Both processes need a file descriptor per connection: the script raises `ulimit -n` to the hard
# limit, which caps what a step can reach.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/herald.sh
ulimit -n "$(ulimit -Hn)"
echo "file descriptors per process: $(ulimit -n)"
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(10000 50000 100000)

for transport in ws sse; do
  for n in "${steps[@]}"; do
    start_herald HERALD_HTTP__MAX_CONNECTIONS=1000000 HERALD_LIMITS__CONNECTIONS_PER_IP=0 \
      HERALD_LIMITS__CONNECTIONS_PER_KEY=0
    "$BENCH" --json --scenario idle --transport "$transport" --addr "$HTTP_ADDR" \
      --server-pid "$HERALD_PID" --connections "$n" --sources 64 --seconds 5 || true
    stop_herald
  done
done
