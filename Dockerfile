# The image of scheduled drills (`kubectl flux-monitor drill --print-cronjob`): kubectl-flux_monitor
# as a static musl binary on a distroless base, running as a non-root user.
#   docker build -t ghcr.io/flux-monitor/kubectl-flux_monitor:v0.1.0 .
FROM rust:1.89-alpine AS build
# ring's C parts build with the musl toolchain; the binary links statically (musl's default).
RUN apk add --no-cache musl-dev gcc
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kubectl-flux_monitor \
 && strip target/release/kubectl-flux_monitor

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/release/kubectl-flux_monitor /usr/local/bin/kubectl-flux_monitor
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kubectl-flux_monitor"]
