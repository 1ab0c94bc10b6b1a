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

# have NAME: true when the cached binary exists and was completed (stamped) by this script.
have() { [ -x "$ASSETS/$1" ] && [ -f "$ASSETS/.$1.done" ]; }

mkdir -p "$ASSETS" "$BUILD"

# The staging modules of k8s.io/kubernetes are replaced by ./staging paths in its go.mod;
# a dependent module ignores those replaces, so we re-point each to its published v0 tag.
k8s_module() {
  local dir="$BUILD/k8s-$K8S_VERSION"
  if [ -f "$dir/.ready" ]; then echo "$dir"; return; fi
  rm -rf "$dir"; mkdir -p "$dir"
  (
    cd "$dir"
    go mod init aias.dev/envtest-build >/dev/null 2>&1
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    [ -n "$gomod" ] || { log "cannot read go.mod of k8s.io/kubernetes@v$K8S_VERSION"; exit 1; }
    local staging_version="v0.${K8S_VERSION#1.}"
    go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
    grep -E '^[[:space:]]*k8s.io/[^ ]+ => ./staging/' "$gomod" | awk '{print $1}' | while read -r m; do
      go mod edit -replace="$m=$m@$staging_version"
    done
    log "resolving k8s.io/kubernetes v$K8S_VERSION dependencies (staging modules at $staging_version)"
    go get "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" "k8s.io/kubernetes/cmd/kubectl@v$K8S_VERSION" \
      "k8s.io/kubernetes/cmd/kube-controller-manager@v$K8S_VERSION" "k8s.io/kubernetes/cmd/kube-scheduler@v$K8S_VERSION" >&2
  )
  touch "$dir/.ready"
  echo "$dir"
}

build_k8s() {
  local name="$1" pkg="$2"
  have "$name" && { log "$name v$K8S_VERSION cached"; return; }
  local dir; dir=$(k8s_module)
  log "building $name v$K8S_VERSION (several minutes on a cold cache)"
  local t0=$SECONDS
  local ver="v$K8S_VERSION" major="${K8S_VERSION%%.*}" minor
  minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$ver -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$ASSETS/$name.tmp" "$pkg")
  mv "$ASSETS/$name.tmp" "$ASSETS/$name" && touch "$ASSETS/.$name.done"
  log "built $name in $((SECONDS - t0))s"
}

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
build_k8s kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build_k8s kubectl k8s.io/kubernetes/cmd/kubectl
build_k8s kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build_k8s kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
log "assets ready in $ASSETS"
echo "$ASSETS"
