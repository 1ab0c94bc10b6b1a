# Shared by hack/envtest.sh and hack/node.sh: build Kubernetes binaries from the
# k8s.io/kubernetes Go module (release download sites are unreachable here; the Go module
# proxy is). Source it after setting:
#   K8S_VERSION   e.g. 1.37.2
#   ASSETS        where finished binaries go (a cache directory keyed by version)
#   BUILD         a scratch directory for the build modules
#   K8S_COMMANDS  the cmd/ packages to resolve, e.g. "kube-apiserver kubectl"
# and defining log().

# have NAME: true when the cached binary exists and was completed (stamped) by this script.
have() { [ -x "$ASSETS/$1" ] && [ -f "$ASSETS/.$1.done" ]; }

# The staging modules of k8s.io/kubernetes are replaced by ./staging paths in its go.mod;
# a dependent module ignores those replaces, so we re-point each to its published v0 tag.
k8s_module() {
  local dir="$BUILD/k8s-$K8S_VERSION"
  if [ -f "$dir/.ready" ]; then echo "$dir"; return; fi
  rm -rf "$dir"; mkdir -p "$dir"
  (
    cd "$dir"
    go mod init aias.dev/k8s-build >/dev/null 2>&1
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    [ -n "$gomod" ] || { log "cannot read go.mod of k8s.io/kubernetes@v$K8S_VERSION"; exit 1; }
    local staging_version="v0.${K8S_VERSION#1.}"
    go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
    grep -E '^[[:space:]]*k8s.io/[^ ]+ => ./staging/' "$gomod" | awk '{print $1}' | while read -r m; do
      go mod edit -replace="$m=$m@$staging_version"
    done
    log "resolving k8s.io/kubernetes v$K8S_VERSION dependencies (staging modules at $staging_version)"
    local pkgs=() c
    for c in $K8S_COMMANDS; do pkgs+=("k8s.io/kubernetes/cmd/$c@v$K8S_VERSION"); done
    go get "${pkgs[@]}" >&2
  )
  touch "$dir/.ready"
  echo "$dir"
}

# build_k8s NAME: builds k8s.io/kubernetes/cmd/NAME at K8S_VERSION into ASSETS, stamping
# the version into the binary so /version and the Node's kubeletVersion report it.
build_k8s() {
  local name="$1" pkg="k8s.io/kubernetes/cmd/$1"
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
