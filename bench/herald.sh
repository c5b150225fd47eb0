# Sourced by the bench scripts. `start_herald [VAR=value ...]` starts a fresh release Herald with
# `--dev` on free loopback ports and a new data directory, the given environment added, and sets
# HERALD_PID, HTTP_ADDR and STOMP_ADDR; `stop_herald` stops it and removes its data.
# HERALD and BENCH name the binaries (default: target/release/herald, target/release/herald-bench).
HERALD="${HERALD:-target/release/herald}"
BENCH="${BENCH:-target/release/herald-bench}"
HERALD_PID=

start_herald() {
  herald_dir=$(mktemp -d /tmp/herald-bench.XXXXXX)
  env "$@" RUST_LOG=warn "$HERALD" serve --dev --data-dir "$herald_dir/data" \
    --listen 127.0.0.1:0 --stomp-listen 127.0.0.1:0 >"$herald_dir/stdout" 2>"$herald_dir/stderr" &
  HERALD_PID=$!
  for _ in $(seq 100); do
    grep -qs "stomp listening" "$herald_dir/stdout" && break
    sleep 0.1
  done
  HTTP_ADDR=$(sed -n 's|^herald: listening on http://\([^ ]*\) .*|\1|p' "$herald_dir/stdout")
  STOMP_ADDR=$(sed -n 's|^herald: stomp listening on tcp://\([^ ]*\).*|\1|p' "$herald_dir/stdout")
  if [ -z "$STOMP_ADDR" ]; then
    echo "Herald did not start:" >&2
    cat "$herald_dir/stderr" >&2
    exit 1
  fi
}

stop_herald() {
  if [ -n "$HERALD_PID" ]; then
    kill "$HERALD_PID" 2>/dev/null || true
    wait "$HERALD_PID" 2>/dev/null || true
    if grep -q panicked "$herald_dir/stderr"; then
      echo "Herald panicked:" >&2
      grep -A5 panicked "$herald_dir/stderr" >&2
    fi
    rm -rf "$herald_dir"
    HERALD_PID=
  fi
}
trap stop_herald EXIT

# Prints the median of field $1 over the JSON lines on stdin.
median() {
  jq -s "map(.$1) | sort | .[length / 2 | floor]"
}
