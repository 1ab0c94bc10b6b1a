# One image for every role of the aias binary:
#   /aias manager        the controller manager (config/manager, charts/aias)
#   /aias webhookserver  the HTTP server (hooks, billing, internal step API, user API + UI)
#   /aias step-run       step pods: an init container copies /aias into an emptyDir
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
# panics on the pods' read-only root filesystem. Keep these flags as internal/testrig/ociimage's
# BuildFlags (the real-node tests build the image's binary with them; a test compares).
RUN CGO_ENABLED=0 GOOS=linux GOARCH=${TARGETARCH} \
    go build -trimpath -tags nodev -ldflags="-s -w" -o /out/aias ./cmd/aias

# distroless static: no shell, no package manager; the nonroot variant runs as 65532:65532.
FROM gcr.io/distroless/static:nonroot
COPY --from=builder /out/aias /aias
USER 65532:65532
ENTRYPOINT ["/aias"]
