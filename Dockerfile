# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run from a slim Debian as a non-root user.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
# (Cargo reads every target the manifest names, so each bench gets a stub too.)
COPY Cargo.toml Cargo.lock ./
COPY engine/Cargo.toml ./engine/
RUN mkdir src benches engine/src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs engine/src/lib.rs \
    && echo 'fn main() {}' > benches/kmeans.rs && echo 'fn main() {}' > benches/engine.rs \
    && echo 'fn main() {}' > benches/hdbscan.rs && echo 'fn main() {}' > benches/clv.rs \
    && cargo build --release --locked --bin segstore \
    && rm -rf src benches engine/src
COPY src ./src
COPY engine/src ./engine/src
COPY benches ./benches
COPY migrations ./migrations
# The dashboard and the chart font are compiled into the binary.
COPY assets ./assets
RUN touch src/main.rs src/lib.rs engine/src/lib.rs && cargo build --release --locked --bin segstore

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin segstore \
    && mkdir -p /var/lib/segstore && chown segstore:segstore /var/lib/segstore
COPY --from=build /src/target/release/segstore /usr/local/bin/segstore
USER segstore:segstore
# The first start's admin key is saved in the data directory (a volume).
ENV SEGSTORE_BIND=0.0.0.0:8080 \
    SEGSTORE_LOG_FORMAT=json \
    SEGSTORE_DATA_DIR=/var/lib/segstore
VOLUME /var/lib/segstore
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["segstore"]
CMD ["serve"]
