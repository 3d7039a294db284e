# Shared by the install scripts in this folder (sourced, not run): where the cache is, progress
# lines, and the stamps that make a rerun with the same inputs a no-op.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${RMLOPS_CACHE:-$ROOT/.cache}"
BIN="$CACHE/bin"
STAMPS="$CACHE/stamps"
mkdir -p "$BIN" "$STAMPS"
START=$SECONDS

step() { printf '== %s (t+%ss)\n' "$*" "$((SECONDS - START))"; }
stamp_ok() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_set() { printf '%s' "$2" >"$STAMPS/$1"; }

# A value of versions.json, by JavaScript path: pin v.minio.release. Exit 3 when it is absent.
pin() { node -e "const v = require(process.argv[1]); const x = $1; if (x === undefined) process.exit(3); console.log(x)" "$ROOT/versions.json"; }

# Stops with a message unless go is on PATH, then sets GO_VERSION. Usage: require_go WHAT
require_go() {
  if ! command -v go >/dev/null; then
    echo "go is not installed: $1 cannot be built" >&2
    exit 1
  fi
  GO_VERSION="$(go env GOVERSION)"
}

# ---- Kubernetes, from the wrapper module e2e/go/kube ----------------------------------------
# One k8s.io/kubernetes version for the API server and kubectl (install-cluster.sh) and the node
# components (install-node.sh).
KUBE_MODULE="$ROOT/e2e/go/kube"
# Sets KUBE_VERSION and KUBE_COMMIT (the commit of that tag, as the module proxy reports it:
# Origin.Hash) from versions.json, and checks that the wrapper module requires that version.
kube_pins() {
  KUBE_VERSION="$(pin v.node.kubernetes)"
  KUBE_COMMIT="$(pin v.node.kubernetesCommit)"
  if ! grep -qx "require k8s.io/kubernetes $KUBE_VERSION" "$KUBE_MODULE/go.mod"; then
    echo "e2e/go/kube/go.mod does not require k8s.io/kubernetes $KUBE_VERSION (versions.json node.kubernetes)" >&2
    exit 1
  fi
}
# Built from a module, the binaries would report v0.0.0-master: the release build stamps the
# version through these linker variables (component-base for the servers, client-go for kubectl's
# client side), and kubectl's version-skew warning reads them.
kube_ldflags() {
  local p out="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    out+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$(cut -d. -f2 <<<"$KUBE_VERSION")"
    out+=" -X $p.gitCommit=$KUBE_COMMIT -X $p.gitTreeState=clean"
  done
  printf '%s' "$out"
}
# The stamp of a build from the wrapper module: its go.mod and go.sum, Go, and the linker flags.
kube_want() {
  printf '%s %s %s' "$(cat "$KUBE_MODULE/go.mod" "$KUBE_MODULE/go.sum" | sha256sum | cut -c1-16)" \
    "$(go env GOVERSION)" "$(kube_ldflags)"
}
