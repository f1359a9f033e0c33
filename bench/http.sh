#!/usr/bin/env bash
# Host benchmark: keep-alive throughput and latency of GET /api/health/ with 1 and 8 clients
# (wrk, from apt), and start-up time to the first served request, cold (empty component cache)
# and warm. Prints each figure and its ratio to the anchor measured for stock Spin 4.1 on the
# same kind of machine (2 cores) with the same spin-sdk 7 component shape.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/debug/songforge}
PORT=${PORT:-3917}
DURATION=${DURATION:-10s}
SPIN_RPS=8850      # stock Spin 4.1, wrk -t2 -c8 (8,500–9,200 measured)
SPIN_P99_MS=43     # stock Spin 4.1 p99 at 8 clients

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
[ -x "$BIN" ] || cargo build -p songforge
state=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$state"' EXIT

# Starts the host and sets $started_ms to the time until /api/health/ first answers.
start_host() {
  local t0 t1
  t0=$(date +%s%N)
  RUST_LOG=warn "$BIN" up --manifest spin.toml --listen 127.0.0.1:$PORT \
    --state-dir "$state" >/dev/null 2>&1 &
  pid=$!
  until curl -sf -o /dev/null http://127.0.0.1:$PORT/api/health/; do sleep 0.005; done
  t1=$(date +%s%N)
  started_ms=$(( (t1 - t0) / 1000000 ))
}

start_host; cold=$started_ms; kill $pid; wait $pid 2>/dev/null || true
start_host; warm=$started_ms
echo "start-up to first response: cold ${cold} ms (compiles and caches components), warm ${warm} ms"

for c in 1 8; do
  t=$(( c < 2 ? 1 : 2 ))
  out=$(wrk -t$t -c$c -d"$DURATION" --latency http://127.0.0.1:$PORT/api/health/)
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(grep -E "Non-2xx|Socket errors" <<<"$out" || true)
  ratio=$(awk -v a="$rps" -v b="$SPIN_RPS" 'BEGIN {printf "%.2f", a / b}')
  echo "clients=$c: ${rps} req/s, p50 ${p50}, p99 ${p99} (vs Spin 4.1 at 8 clients: ${ratio}x throughput, Spin p99 ${SPIN_P99_MS}ms) ${errors}"
done
