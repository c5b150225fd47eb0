#!/usr/bin/env bash
# SSE fan-out: Herald, Pushpin and the floor, A B C interleaved, several rounds, then medians.
# Usage: flock /tmp/bench.lock bench/compare_sse.sh [rounds] [sse|ndjson]
#   (after cargo build --release and bench/peers.sh, which starts Pushpin on 127.0.0.1:7999).
# HERALD and BENCH name the binaries if they are not in target/release.
# Prints one JSON line per run, then a Markdown table of the medians; docs/benchmarks.md quotes it.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
transport="${2:-sse}"
. bench/herald.sh
runs=$(mktemp)
start_herald
trap 'stop_herald; rm -f "$runs"' EXIT

# Pushpin 1.36's condure has crashed here as 1,000 subscribers disconnected at once (a panic in
# its server.rs), which stops all of Pushpin: before each Pushpin run, peers.sh restarts it if it
# is not running, and this says so.
pushpin_pid=""
pushpin_up() {
  bench/peers.sh pushpin >/dev/null
  local pid
  pid=$(cat /tmp/herald-pushpin/pid)
  [ -z "$pushpin_pid" ] || [ "$pid" = "$pushpin_pid" ] || echo "Pushpin was restarted (pid $pid)" >&2
  pushpin_pid=$pid
}

run() { # target subscribers rate herald-publishers
  local common=(--json --transport "$transport" --subscribers "$2" --rate "$3" --size 100 --seconds 5)
  case "$1" in
    herald) "$BENCH" "${common[@]}" --target herald --addr "$HTTP_ADDR" --server-pid "$HERALD_PID" \
              --publishers "$4" ;;
    pushpin)
      pushpin_up
      # Pushpin is several processes (condure, zurl, pushpin-proxy, pushpin-handler): sum them.
      local pids=()
      for pid in $(pgrep -P "$pushpin_pid"); do pids+=(--server-pid "$pid"); done
      "$BENCH" "${common[@]}" --target pushpin --addr 127.0.0.1:7999 "${pids[@]}" ;;
    floor) "$BENCH" "${common[@]}" --target floor ;;
  esac
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Scenarios: subscribers, events/s offered, Herald's publishers. Pushpin and the floor always get
# the generator's default 8 publishers.
# - 1,000 x 3,000/s: more than Pushpin and the floor deliver here. Herald gets 128 publishers: each
#   waits for its fsync'd 201, so with 8 its durable publish path, not its fan-out, sets the pace. Pushpin is already
#   backlogged with 8, and its publish API (a new connection per publish) does worse with 128:
#   10-11k deliveries/s instead of 80-160k. The floor's publishers do not wait for anything.
# - 1,000 x 1,000/s, the figure quoted before, and 100 x 1,000/s, latency below capacity.
for scenario in "1000 3000 128" "1000 1000 8" "100 1000 8"; do
  for _ in $(seq "$rounds"); do
    for target in herald pushpin floor; do
      # shellcheck disable=SC2086
      run "$target" $scenario | tee -a "$runs"
      sleep 3 # let the server work off any backlog before the next one starts
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

echo
echo "| subscribers × msg/s | target | deliveries/s | p50 ms | p99 ms | p99.9 ms | generator cores | server cores | Herald ÷ this |"
echo "|---|---|---|---|---|---|---|---|---|"
jq -rs '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def m(f): map(f) | median | . * 100 | round / 100;
  group_by([.subscribers, .rate])
  | sort_by([-.[0].subscribers, -.[0].rate])[]
  | (map(select(.target == "herald")) | m(.deliveries_per_second)) as $herald
  | group_by(.target)
  | sort_by(.[0].target as $t | ["herald", "pushpin", "floor"] | index($t))[]
  | "| \(.[0].subscribers) × \(.[0].rate) | \(.[0].target) | \(m(.deliveries_per_second) | round) | \(m(.p50_ms))"
    + " | \(m(.p99_ms)) | \(m(.p999_ms)) | \(m(.generator_cores)) | \(if .[0].server_cores then m(.server_cores) else "–" end)"
    + " | \($herald / m(.deliveries_per_second) * 100 | round / 100) |"
' "$runs"
