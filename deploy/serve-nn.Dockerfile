# The inference service (`songforge serve-nn`) as a container, with the default models.
# Build from the repository root:
#   docker build -f deploy/serve-nn.Dockerfile -t songforge-serve-nn .
# For NVIDIA GPUs, build the host with CUDA on CUDA images:
#   docker build -f deploy/serve-nn.Dockerfile --build-arg FEATURES=cuda \
#     --build-arg BUILD_IMAGE=nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04 \
#     --build-arg RUNTIME_IMAGE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 -t songforge-serve-nn:cuda .
# (a CUDA build image needs the Rust toolchain: `curl https://sh.rustup.rs | sh -s -- -y` first).
# It listens on 0.0.0.0:3100, so it needs SONGFORGE_NN_TOKEN (it refuses to start without).
ARG BUILD_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
ARG FEATURES=""
RUN apt-get update && apt-get install -y --no-install-recommends python3-pip && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release -p songforge --features "${FEATURES}"
RUN ./target/release/songforge models pull whisper-tiny-en whisper-base smollm2-135m-instruct onnxruntime piper-en-us-joe-medium basic-pitch

FROM ${RUNTIME_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/songforge /usr/local/bin/songforge
COPY --from=build /src/models/store /opt/songforge/models
COPY runtime-config.toml /opt/songforge/runtime-config.toml
ENV NN_LISTEN=0.0.0.0:3100
ENV SONGFORGE_MODELS=/opt/songforge/models
ENV SONGFORGE_RUNTIME_CONFIG=/opt/songforge/runtime-config.toml
EXPOSE 3100
ENTRYPOINT ["songforge", "serve-nn"]
