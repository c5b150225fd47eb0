#!/usr/bin/env bash
# Peers for side-by-side benchmarks, on loopback only, idempotently (run it again: it checks and
# starts only what is missing). It leaves both running.
# - RabbitMQ with Web-STOMP (STOMP over WebSocket on 127.0.0.1:15674, path /ws, guest/guest).
#   This machine kind runs RabbitMQ already; elsewhere the Debian package is installed.
# - Pushpin (Debian's package) with a config of ours in /tmp/herald-pushpin: clients on
#   127.0.0.1:7999, the HTTP publish API on 127.0.0.1:5561 (and its ZeroMQ inputs on
#   127.0.0.1:5560, 5562, 5563), every request routed to a GRIP backend on 127.0.0.1:7998, which
#   `herald-bench --target pushpin` runs itself. The runner's pid is in /tmp/herald-pushpin/pid.
set -euo pipefail

# RabbitMQ Web-STOMP.
if ! command -v rabbitmq-plugins >/dev/null; then
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y rabbitmq-server
  service rabbitmq-server start
fi
rabbitmq-plugins enable --quiet rabbitmq_web_stomp >/dev/null
up=""
for _ in $(seq 50); do
  curl -s -o /dev/null http://127.0.0.1:15674/ws && { up=yes; break; }
  sleep 0.2
done
[ -n "$up" ] || { echo "RabbitMQ Web-STOMP did not come up on 127.0.0.1:15674" >&2; exit 1; }
echo "RabbitMQ Web-STOMP: ws://127.0.0.1:15674/ws"

# Pushpin.
if ! command -v pushpin >/dev/null; then
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y pushpin
  # Debian's service uses /etc/pushpin, which listens on every interface; ours replaces it.
  service pushpin stop >/dev/null 2>&1 || true
fi
dir=/tmp/herald-pushpin
if ! { [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; }; then
  mkdir -p "$dir/run" "$dir/log"
  echo "* 127.0.0.1:7998" > "$dir/routes"
  # Debian's defaults, except: loopback addresses; run and log files under $dir; and zurl (which
  # makes Pushpin's requests to the backend) started by Pushpin itself, on sockets in $dir/run,
  # instead of Debian's separate zurl service.
  cat > "$dir/pushpin.conf" <<EOF
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
message_rate=2500
message_hwm=25000
EOF
  setsid pushpin --config "$dir/pushpin.conf" --merge-output >"$dir/log/pushpin.log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
fi
code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true; }
for _ in $(seq 50); do
  # Any HTTP status means it is up (without a backend, Pushpin answers 502).
  kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
  if [ "$(code http://127.0.0.1:5561/)" != 000 ] && [ "$(code http://127.0.0.1:7999/)" != 000 ]; then
    echo "Pushpin $(pushpin --version | cut -d' ' -f2): clients http://127.0.0.1:7999," \
      "publish http://127.0.0.1:5561/publish/, backend 127.0.0.1:7998 (pid $(cat "$dir/pid"), logs in $dir/log)"
    exit 0
  fi
  sleep 0.2
done
echo "Pushpin did not come up on 127.0.0.1:7999 and 127.0.0.1:5561 (see $dir/log)" >&2
exit 1
