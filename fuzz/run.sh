#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser that takes outside bytes (crates/fuzz-targets).
#
#   bash fuzz/run.sh smoke            # each target 20,000 inputs, seed 1 (make test runs this)
#   bash fuzz/run.sh long [RUNS]      # each target RUNS inputs (default 200000): README figures
#   bash fuzz/run.sh smoke range      # one target
#
# libFuzzer through cargo-fuzz, with SanitizerCoverage on stable Rust (`-s none`); set
# FUZZ_TOOLCHAIN=nightly FUZZ_SANITIZER=address to add AddressSanitizer where nightly is
# installed. Overflow checks and debug assertions are on; the fuzz binaries' allocator aborts
# on one allocation over 256 MiB or 1 GiB live (crates/fuzz-targets/src/alloc_cap.rs).
# A crash leaves its input in fuzz/artifacts/<target>/; once fixed, copy it to
# fuzz/regressions/<target>/, which `cargo test` replays.
set -euo pipefail
cd "$(dirname "$0")"

mode=${1:-smoke}
case "$mode" in
  # A fixed seed and count from the seeds alone: nearly the same inputs everywhere, a sample
  # of what the long runs passed, so `make test` does not fail in CI on luck; 0-7 s a target.
  smoke) limit=(-seed=1 -runs="${FUZZ_RUNS:-20000}") ;;
  long) limit=(-runs="${2:-200000}" -max_total_time="${FUZZ_MAX_SECONDS:-3600}"); shift ;;
  *) echo "usage: fuzz/run.sh smoke|long [RUNS] [TARGET...]" >&2; exit 2 ;;
esac
shift || true
# The default toolchain unless one is named (`+nightly` for AddressSanitizer).
toolchain=(${FUZZ_TOOLCHAIN:+"+$FUZZ_TOOLCHAIN"})
sanitizer=${FUZZ_SANITIZER:-none}
cargo_fuzz_version=0.13.2

if ! cargo fuzz --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
  cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
fi
# libfuzzer-sys compiles libFuzzer, which is C++.
command -v c++ >/dev/null || apt-get install -y -q --no-install-recommends g++ || {
  apt-get update -q && apt-get install -y -q --no-install-recommends g++; }
cargo "${toolchain[@]}" fuzz build -s "$sanitizer"

triple=$(rustc "${toolchain[@]}" -vV | sed -n 's/^host: //p')
bin_dir=target/$triple/release
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^songforge-fuzz$')
fi

printf '| target | inputs | inputs/s | seconds | coverage (edges) | corpus | peak RSS MiB | result |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---|\n'
failed=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log=artifacts/$t/$mode-run.log
  start=$(date +%s)
  # New inputs go to corpus/<t> (kept between runs); seeds are read, never written.
  if "$bin_dir/$t" "corpus/$t" "seeds/$t" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 \
      -max_len=16384 -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result="FAILED: $(ls -t "artifacts/$t" | grep -v -- -run.log | head -1)"
    failed=1
  fi
  seconds=$(( $(date +%s) - start ))
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  corp=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$(stat number_of_executed_units)" \
    "$(stat average_exec_per_sec)" "$seconds" "${cov:-?}" "${corp:-?}" "$(stat peak_rss_mb)" "$result"
  if [ "$result" != ok ]; then
    grep -m5 -E 'panicked|ERROR|fuzz:|SUMMARY' "$log" >&2 || tail -20 "$log" >&2
  fi
done
exit $failed
