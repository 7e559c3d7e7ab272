# syntax=docker/dockerfile:1
# Every driftgate service image, from the repository root:
#   docker build --build-arg SERVICE=watcher  --target static .
#   docker build --build-arg SERVICE=notifier --target static .
#   docker build --build-arg SERVICE=console  --target static .
#   docker build --build-arg SERVICE=planner  --target tofu .
#   docker build --build-arg SERVICE=importer --target tofu .
# One target per base image: static (distroless) for the services that run no
# tool, tofu (Debian with OpenTofu and the providers as a filesystem mirror,
# so it never reaches a registry at run time) for those that run it.
ARG SERVICE

FROM golang:1.26-bookworm AS build
ARG SERVICE
RUN test -n "$SERVICE" || { echo "set --build-arg SERVICE=watcher|planner|importer|notifier|console" >&2; exit 1; }
WORKDIR /src
COPY pkg/ pkg/
COPY test/go.mod test/go.sum test/
COPY services/ services/
RUN cd services/${SERVICE} && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/bin/driftgate-${SERVICE} ./cmd/driftgate-${SERVICE}
# The image's entrypoint has one name whatever the service; the binary keeps its own.
RUN ln -s driftgate-${SERVICE} /out/bin/driftgate-service

FROM golang:1.26-bookworm AS tools
COPY hack/tools.sh /src/hack/tools.sh
RUN DRIFTGATE_TOOLS_DIR=/tools DRIFTGATE_TOOLS_ONLY="providers tofu" /src/hack/tools.sh

FROM debian:bookworm-slim AS tofu
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=tools /tools/tofu-1.10.10/bin/tofu /usr/local/bin/tofu
COPY --from=tools /tools/mirror-k1.13.4-c1.19.0-h1.3.2-l1.4.0 /tools/mirror-k1.13.4-c1.19.0-h1.3.2-l1.4.0
ENV TF_CLI_CONFIG_FILE=/tools/mirror-k1.13.4-c1.19.0-h1.3.2-l1.4.0/cli.tfrc
COPY --from=build /out/bin/ /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/driftgate-service"]

FROM gcr.io/distroless/static-debian12:nonroot AS static
COPY --from=build /out/bin/ /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/driftgate-service"]
