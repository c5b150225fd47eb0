#!/usr/bin/env bash
# Peers for side-by-side benchmarks, on loopback only, idempotently: run it again and it checks,
# and starts only what is missing. It leaves them running.
# Usage: bench/peers.sh [rabbitmq|pushpin] (both by default)
# - RabbitMQ with Web-STOMP (STOMP over WebSocket on 127.0.0.1:15674, path /ws, guest/guest).
#   This machine kind runs RabbitMQ already; elsewhere the Debian package is installed.
# - Pushpin (Debian's package) with a config of ours in /tmp/herald-pushpin: clients on
#   127.0.0.1:7999, the HTTP publish API on 127.0.0.1:5561 (and its ZeroMQ inputs on
#   127.0.0.1:5560, 5562, 5563), every request routed to a GRIP backend on 127.0.0.1:7998, which
#   `herald-bench --target pushpin` runs itself. Its runner's pid is in /tmp/herald-pushpin/pid
#   (it starts condure, zurl, pushpin-proxy and pushpin-handler; stop them all by killing it).
set -euo pipefail

rabbitmq() {
  if ! command -v rabbitmq-plugins >/dev/null; then
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y rabbitmq-server
    service rabbitmq-server start
  fi
  rabbitmq-plugins enable --quiet rabbitmq_web_stomp >/dev/null
  for _ in $(seq 50); do
    if curl -s -o /dev/null http://127.0.0.1:15674/ws; then
      echo "RabbitMQ Web-STOMP: ws://127.0.0.1:15674/ws"
      return
    fi
    sleep 0.2
  done
  echo "RabbitMQ Web-STOMP did not come up on 127.0.0.1:15674" >&2
  exit 1
}

pushpin_peer() {
  if ! command -v pushpin >/dev/null; then
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y pushpin
    # Debian's service uses /etc/pushpin, which listens on every interface; ours replaces it.
    service pushpin stop >/dev/null 2>&1 || true
  fi
  local dir=/tmp/herald-pushpin
  mkdir -p "$dir/run" "$dir/log"
  echo "* 127.0.0.1:7998" > "$dir/routes"
  # Debian's defaults (/usr/share/pushpin/pushpin.conf.condure), except:
  # - loopback addresses only, and run and log files under $dir;
  # - zurl (which makes Pushpin's requests to the backend) started by Pushpin itself, on sockets
  #   in $dir/run, instead of Debian's separate zurl service;
  # - message_rate=0: Debian's 2500 paces deliveries (one per subscriber per publish) to 2,500/s
  #   in all, and drops what exceeds message_hwm; 0 turns the pacing off, so fan-out is measured.
  cat > "$dir/pushpin.conf.new" <<EOF
[global]
include={libdir}/internal.conf
rundir=$dir/run
ipc_prefix=pushpin-
port_offset=0
stats_connection_ttl=120

[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port=127.0.0.1:7999
logdir=$dir/log
log_level=2
client_buffer_size=8192
client_maxconn=50000
condure_bin=condure
zurl_bin=zurl

[proxy]
routesfile=routes
zurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in
zurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream
zurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out
sig_iss=pushpin
sig_key=changeme
updates_check=off

[handler]
push_in_spec=tcp://127.0.0.1:5560
push_in_sub_specs=tcp://127.0.0.1:5562
push_in_sub_connect=false
push_in_http_addr=127.0.0.1
push_in_http_port=5561
stats_spec=ipc://{rundir}/{ipc_prefix}stats
command_spec=tcp://127.0.0.1:5563
message_rate=0
message_hwm=25000
EOF
  # Running: the pid file names a live process (a zombie's state is Z).
  running() { [ -f "$dir/pid" ] && ps -o stat= -p "$(cat "$dir/pid")" | grep -qv '^Z'; }
  if running && ! cmp -s "$dir/pushpin.conf.new" "$dir/pushpin.conf"; then
    kill "$(cat "$dir/pid")" # started by an earlier run with another config
    for _ in $(seq 50); do running || break; sleep 0.1; done
  fi
  mv "$dir/pushpin.conf.new" "$dir/pushpin.conf"
  if ! running; then
    setsid pushpin --config "$dir/pushpin.conf" --merge-output >>"$dir/log/pushpin.log" 2>&1 </dev/null &
    echo $! > "$dir/pid"
  fi
  code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true; }
  for _ in $(seq 50); do
    running || break
    # Any HTTP status means it is up (without a backend, Pushpin answers 502).
    if [ "$(code http://127.0.0.1:5561/)" != 000 ] && [ "$(code http://127.0.0.1:7999/)" != 000 ]; then
      echo "Pushpin $(pushpin --version | cut -d' ' -f2): clients http://127.0.0.1:7999," \
        "publish http://127.0.0.1:5561/publish/, backend 127.0.0.1:7998" \
        "(pid $(cat "$dir/pid"), log $dir/log/pushpin.log)"
      return
    fi
    sleep 0.2
  done
  echo "Pushpin did not come up on 127.0.0.1:7999 and 127.0.0.1:5561 (see $dir/log)" >&2
  exit 1
}

case "${1:-}" in
  rabbitmq) rabbitmq ;;
  pushpin) pushpin_peer ;;
  "") rabbitmq; pushpin_peer ;;
  *) echo "usage: $0 [rabbitmq|pushpin]" >&2; exit 2 ;;
esac
