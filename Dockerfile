# Pennon's server image: `docker build -t pennon .`, or `docker compose up` (see docker-compose.yml).
#
# Stage 1 builds the `pennon` binary in release mode; stage 2 is a small Debian image that runs it as an
# unprivileged user. The binary needs no TLS or other system libraries (SQLite is compiled in).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep downloaded crates and compiled dependencies between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p pennon-server --bin pennon \
    && install -m 0755 target/release/pennon /usr/local/bin/pennon

FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 pennon \
    && useradd --system --uid 10001 --gid pennon --home-dir /var/lib/pennon --create-home pennon
COPY --from=build /usr/local/bin/pennon /usr/local/bin/pennon
USER pennon:pennon
WORKDIR /var/lib/pennon
# Listen on every interface of the container; without DATABASE_URL the data goes to SQLite in the volume.
ENV PENNON_LISTEN=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///var/lib/pennon/pennon.db?mode=rwc
VOLUME ["/var/lib/pennon"]
EXPOSE 8080
# The image has no curl: bash asks /readyz over a plain TCP connection.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["pennon"]
CMD ["serve"]
