# One image for every role of AIAS:
#   /aias manager        the controller manager (config/manager, charts/aias)
#   /aias webhookserver  the HTTP server (hooks, billing, internal step API, user API + UI)
#   /aias-step           the step runtime (cmd/aias-step, a few MB): in step pods an init
#                        container runs `/aias-step install-runner` to copy it into an
#                        emptyDir, and the step container runs its `step-run`
#
# Build (BuildKit; multi-arch with buildx):
#   docker build -t ghcr.io/aias-dev/aias:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/aias-dev/aias:dev .

ARG GO_VERSION=1.26

# The builder runs on the build host's platform and cross-compiles for the target (CGO is off).
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS builder
ARG TARGETARCH

WORKDIR /src

# Module downloads get their own layer: it is rebuilt only when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download

# Sources (api/ cmd/ controllers/ internal/ webhookserver/ ...); see .dockerignore for what is left out.
COPY . .

# -tags nodev leaves `aias dev` out: it links envtest, whose package init writes to /tmp and
# panics on the pods' read-only root filesystem. Keep these flags and packages as
# internal/testrig/ociimage's BuildFlags and Commands (the real-node tests build the image's
# binaries with them; a test compares). One build writes /out/aias and /out/aias-step.
RUN CGO_ENABLED=0 GOOS=linux GOARCH=${TARGETARCH} \
    go build -trimpath -tags nodev -ldflags="-s -w" -o /out/ ./cmd/aias ./cmd/aias-step

# distroless static: no shell, no package manager; the nonroot variant runs as 65532:65532.
FROM gcr.io/distroless/static:nonroot
COPY --from=builder /out/aias /out/aias-step /
USER 65532:65532
ENTRYPOINT ["/aias"]
