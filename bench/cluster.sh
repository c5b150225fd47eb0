#!/usr/bin/env bash
# One node against three, on this machine's PostgreSQL and NATS: durable publishes (wrk) and SSE
# fan-out (herald-bench) with subscribers on other nodes than the publisher. Each run uses a
# fresh PostgreSQL schema and NATS prefix and removes them afterwards.
#
# Usage: bench/cluster.sh [postgres-url] [nats-url]      (after cargo build --release)
# Prints the figures docs/benchmarks.md quotes.
set -euo pipefail
cd "$(dirname "$0")/.."
pg="${1:-postgres://postgres@127.0.0.1:5432/test}"
nats="${2:-nats://127.0.0.1:4222}"
bin=target/release
schema="herald_bench_$$"
psql "$pg" -qc "CREATE SCHEMA $schema"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$pg" -qc "DROP SCHEMA $schema CASCADE"
}
trap cleanup EXIT

# node N listens on 127.0.0.1:818N (HTTP) and 6181N (STOMP).
start_node() {
  local n=$1 dir
  dir=$(mktemp -d)
  HERALD_STORE="$pg?options=-c%20search_path%3D$schema" HERALD_BUS="$nats" HERALD_BUS_PREFIX="$schema" \
    RUST_LOG=warn "$bin/herald" serve --dev --data-dir "$dir" \
    --listen "127.0.0.1:818$n" --stomp-listen "127.0.0.1:6181$n" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:818$n/readyz" >/dev/null && return; sleep 0.1; done
  echo "node $n did not start" >&2; exit 1
}

publishes() { # wrk against the given URLs at once, 64 connections in all; prints requests/s.
  local urls=("$@") per=$((64 / $#)) total=0 out wrks=()
  for url in "${urls[@]}"; do
    wrk -t1 -c"$per" -d15s -s bench/publish.lua "$url" > "/tmp/wrk.$$.${url##*:}" &
    wrks+=($!)
  done
  wait "${wrks[@]}"
  for url in "${urls[@]}"; do
    out=$(awk '/Requests\/sec/ {print $2}' "/tmp/wrk.$$.${url##*:}")
    total=$(echo "$total + $out" | bc)
  done
  echo "$total"
}

start_node 1
echo "1 node:  publishes/s $(publishes http://127.0.0.1:8181)"
echo "1 node:  SSE fan-out, 1,000 subscribers: $("$bin/herald-bench" --addr 127.0.0.1:8181 --subscribers 1000 --rate 500 --seconds 10)"
start_node 2
start_node 3
echo "3 nodes: publishes/s $(publishes http://127.0.0.1:8181 http://127.0.0.1:8182 http://127.0.0.1:8183)"
echo "3 nodes: SSE fan-out, 1,000 subscribers on nodes 2 and 3, publishing on node 1: $("$bin/herald-bench" --addr 127.0.0.1:8182 --addr 127.0.0.1:8183 --publish-addr 127.0.0.1:8181 --subscribers 1000 --rate 500 --seconds 10)"
