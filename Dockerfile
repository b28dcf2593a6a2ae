# Histoscore as a container image.
#
#   docker build -t histoscore .          everything from source (Rust + Node build stage)
#   scripts/container-check               the runtime stage around a binary built on this
#                                         machine, started with podman and checked
#
# The image runs `histoscore serve` on port 8000 with its data in the /data volume, as a
# non-root user. ONNX Runtime (the pinned PyPI wheel's library) sits beside the binary.
# Serving 0.0.0.0 needs an administrator: set HISTOSCORE_ADMIN_PASSWORD for the first start.

ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG NODE_IMAGE=docker.io/library/node:20-bookworm
ARG RUNTIME_BASE=docker.io/library/debian:bookworm-slim
# The stage or image whose /out holds `histoscore` and `libonnxruntime.so`.
ARG BINARY_FROM=build

FROM ${NODE_IMAGE} AS node

FROM ${RUST_IMAGE} AS build
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3-pip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cd web && npm ci
RUN HISTOSCORE_REQUIRE_WEB=1 cargo build --release --locked --bin histoscore \
 && mkdir -p /out \
 && cp target/release/histoscore /out/ \
 && HISTOSCORE_ORT_CACHE=/tmp/ort scripts/fetch-ort /out

FROM ${BINARY_FROM} AS binary

FROM ${RUNTIME_BASE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenslide0 curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin histoscore \
 && mkdir -p /data \
 && chown histoscore /data
COPY --from=binary /out/ /opt/histoscore/
RUN ln -s /opt/histoscore/histoscore /usr/local/bin/histoscore
USER histoscore
WORKDIR /data
VOLUME /data
ENV HISTOSCORE_DATA_DIR=/data \
    HISTOSCORE_BIND=0.0.0.0:8000
EXPOSE 8000
# On the port HISTOSCORE_BIND names (8000 unless changed).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD curl -fsS "http://localhost:${HISTOSCORE_BIND##*:}/healthz" || exit 1
ENTRYPOINT ["histoscore"]
CMD ["serve"]
