#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver, etcd, kubectl) from Go modules.
#
# Release download sites are unreachable where AIAS is developed and tested; the Go
# module proxy is. So the binaries are compiled from their modules, once per version,
# into a cache outside the checkout so every fresh clone on the machine (CI) reuses them.
#
# Prints the directory to use as KUBEBUILDER_ASSETS on its last line (and only that on
# stdout); progress goes to stderr.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
CACHE_ROOT="${AIAS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aias}"
ASSETS="$CACHE_ROOT/envtest/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
BUILD="$CACHE_ROOT/envtest/build"

log() { printf '[envtest] %s\n' "$*" >&2; }

K8S_COMMANDS="kube-apiserver kubectl kube-controller-manager kube-scheduler"
# shellcheck source=lib/k8s.sh
. "$(dirname "$0")/lib/k8s.sh"

mkdir -p "$ASSETS" "$BUILD"

build_etcd() {
  have etcd && { log "etcd v$ETCD_VERSION cached"; return; }
  local dir="$BUILD/etcd-$ETCD_VERSION"
  mkdir -p "$dir"
  log "building etcd v$ETCD_VERSION (about a minute on a cold cache)"
  local t0=$SECONDS
  (
    cd "$dir"
    [ -f go.mod ] || go mod init aias.dev/etcd-build >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ASSETS/etcd.tmp" go.etcd.io/etcd/server/v3
  )
  mv "$ASSETS/etcd.tmp" "$ASSETS/etcd" && touch "$ASSETS/.etcd.done"
  log "built etcd in $((SECONDS - t0))s"
}

build_etcd
build_k8s kube-apiserver
build_k8s kubectl
build_k8s kube-controller-manager
build_k8s kube-scheduler
log "assets ready in $ASSETS"
echo "$ASSETS"
