# syntax=docker/dockerfile:1
# Multi-stage build: a cached dependency layer, a release build, and a small runtime image.
# Base images are build arguments so a mirror or a local image can stand in.
ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Empty for the production image; "emulator" adds `emulate`, `coaching-sink`, `demo` and
# `evaluate` (deploy/docker-compose.yml builds it that way for a local trial).
ARG CARGO_FEATURES=""
# 1. Dependencies only: build against stub sources so this layer is reused until
#    Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
# (Cargo checks that every declared bench and test target exists, so they get stubs too.)
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && for b in $(sed -n '/^\[\[bench\]\]/{n;s/^name = "\(.*\)"/\1/p}' Cargo.toml); do echo 'fn main() {}' > "benches/$b.rs"; done \
 && for t in $(sed -n '/^\[\[test\]\]/{n;s/^name = "\(.*\)"/\1/p}' Cargo.toml); do mkdir -p "tests/$t" && echo 'fn main() {}' > "tests/$t/main.rs"; done \
 && cargo build --release --locked --no-default-features ${CARGO_FEATURES:+--features "$CARGO_FEATURES"} \
 && rm -rf src benches tests
# 2. The crate itself. The production image leaves out the emulator wing (`emulate`,
#    `coaching-sink`, `demo`, `evaluate`): `--no-default-features`.
COPY config ./config
COPY src ./src
COPY benches ./benches
COPY tests ./tests
COPY build.rs ./
# The commit for --version and build_info (the image has no .git): pass
# --build-arg GENESYS_SENTIMENT_COMMIT=$(git rev-parse --short=12 HEAD).
ARG GENESYS_SENTIMENT_COMMIT=unknown
ENV GENESYS_SENTIMENT_COMMIT=${GENESYS_SENTIMENT_COMMIT}
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --no-default-features ${CARGO_FEATURES:+--features "$CARGO_FEATURES"}

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/genesys-sentiment genesys \
 && mkdir -p /var/lib/genesys-sentiment /etc/genesys-sentiment \
 && chown genesys:genesys /var/lib/genesys-sentiment
COPY --from=build /src/target/release/genesys-sentiment /usr/local/bin/genesys-sentiment
COPY config/container.toml /etc/genesys-sentiment/config.toml
ENV GENESYS_SENTIMENT_CONFIG=/etc/genesys-sentiment/config.toml
VOLUME ["/var/lib/genesys-sentiment"]
USER 10001:10001
EXPOSE 8080 8081
# The binary is the entry point and `serve` the default command, so
# `docker run IMAGE audit verify` and `docker run IMAGE check-config` work too.
ENTRYPOINT ["/usr/local/bin/genesys-sentiment"]
CMD ["serve"]
