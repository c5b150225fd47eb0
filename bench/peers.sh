#!/usr/bin/env bash
# Peers for side-by-side benchmarks, on loopback only, idempotently:
# - RabbitMQ with Web-STOMP (STOMP over WebSocket on 127.0.0.1:15674, path /ws, guest/guest).
#   This machine kind runs RabbitMQ already; elsewhere the Debian package is installed.
set -euo pipefail
if ! command -v rabbitmq-plugins >/dev/null; then
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y rabbitmq-server
  service rabbitmq-server start
fi
rabbitmq-plugins enable --quiet rabbitmq_web_stomp >/dev/null
for _ in $(seq 50); do
  curl -s -o /dev/null http://127.0.0.1:15674/ws && { echo "RabbitMQ Web-STOMP: ws://127.0.0.1:15674/ws"; exit 0; }
  sleep 0.2
done
echo "RabbitMQ Web-STOMP did not come up on 127.0.0.1:15674" >&2
exit 1
