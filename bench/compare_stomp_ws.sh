#!/usr/bin/env bash
# STOMP over WebSocket fan-out, Herald against RabbitMQ Web-STOMP, A B A B interleaved.
# Usage: bench/compare_stomp_ws.sh [rounds] (after cargo build --release and bench/peers.sh)
# Prints one JSON line per run; docs/benchmarks.md quotes the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
. bench/herald.sh
start_herald

run() { # target subscribers rate
  case "$1" in
    herald) "$BENCH" --json --target herald --addr "$HTTP_ADDR" --transport stomp-ws \
              --subscribers "$2" --rate "$3" --seconds 5 ;;
    rabbitmq) "$BENCH" --json --target rabbitmq --addr 127.0.0.1:15674 --transport stomp-ws \
              --ws-path /ws --stomp-login guest:guest --subscribers "$2" --rate "$3" --seconds 5 ;;
  esac
}
for scenario in "100 100" "1000 100" "1000 1000"; do
  for _ in $(seq "$rounds"); do
    for target in herald rabbitmq; do
      # shellcheck disable=SC2086
      run "$target" $scenario
    done
  done
done
