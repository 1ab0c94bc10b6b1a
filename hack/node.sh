#!/usr/bin/env bash
# Prepares a real Kubernetes node for the one-node cluster tests (internal/testrig/realnode):
# installs the container runtime from Debian (containerd, runc, the CNI plugins, iptables,
# conntrack, busybox-static for the step image) when missing, and builds kubelet and
# kube-proxy from the k8s.io/kubernetes Go module, once per version, into a cache outside
# the checkout.
#
# Why kubelet 1.34 beside a 1.37 apiserver: this machine kind runs cgroup v1, and from
# 1.35 the kubelet refuses to start on cgroup v1 by default (failCgroupV1). 1.34 is the
# newest kubelet that runs here without that override and is within the version-skew
# policy (a kubelet may be up to three minors older than the apiserver). Debian's
# containerd 1.6 speaks the CRI v1 API that kubelet 1.34 requires.
#
# Prints the directory holding kubelet and kube-proxy on its last line (only that on
# stdout); progress goes to stderr.
set -euo pipefail

K8S_VERSION="${NODE_K8S_VERSION:-1.34.4}"
CACHE_ROOT="${AIAS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aias}"
ASSETS="$CACHE_ROOT/node/k8s-$K8S_VERSION"
BUILD="$CACHE_ROOT/node/build"
K8S_COMMANDS="kubelet kube-proxy"

log() { printf '[node] %s\n' "$*" >&2; }
# shellcheck source=lib/k8s.sh
. "$(dirname "$0")/lib/k8s.sh"

mkdir -p "$ASSETS" "$BUILD"

# The Debian packages the node needs, by the command each provides.
need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || need+=(iptables)
command -v conntrack >/dev/null || need+=(conntrack)
# The step and pause images copy /bin/busybox, so it must be the static build.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' || need+=(busybox-static)
command -v ip >/dev/null || need+=(iproute2)
command -v mount >/dev/null || need+=(mount)
if [ ${#need[@]} -gt 0 ]; then
  log "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need[@]}" >&2
fi
log "containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}')"

build_k8s kubelet
build_k8s kube-proxy
log "node binaries ready in $ASSETS"
echo "$ASSETS"
