#!/usr/bin/env bash
# Builds the control plane that `npm run e2e:cluster` runs, into the cache folder shared with
# scripts/real/install.sh (${RMLOPS_CACHE:-<repo>/.cache}/bin):
#   kube-apiserver, kubectl  1.28.15, from the wrapper module e2e/go/kube
#   kine                     v0.16.4 (SQLite storage for the API server instead of etcd)
#   seldon-operator          1.17.1, from the source archive in ../shared/third_party
#                            (install-seldon.sh; RMLOPS_SELDON_OPERATOR overrides)
# Idempotent: each build writes a stamp of what it built; a rerun with the same inputs only
# prints versions. Compiles run under `nice` because the build machines are shared.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

kube_pins
KINE_VERSION=v0.16.4

require_go "the control plane"

# ---- kube-apiserver + kubectl ---------------------------------------------------------------
want="$(kube_want)"
step "kube-apiserver, kubectl $KUBE_VERSION"
if stamp_ok kube "$want" && [[ -x "$BIN/kube-apiserver" && -x "$BIN/kubectl" ]]; then
  echo "up to date"
else
  # CGO off: the release binaries are static too, and nothing here needs cgo.
  (cd "$KUBE_MODULE" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "$(kube_ldflags)" \
    -o "$BIN/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
  stamp_set kube "$want"
fi

# ---- kine -----------------------------------------------------------------------------------
want="github.com/k3s-io/kine@$KINE_VERSION $GO_VERSION"
step "kine $KINE_VERSION"
if stamp_ok kine "$want" && [[ -x "$BIN/kine" ]]; then
  echo "up to date"
else
  # cgo on, with the C flag of kine's release script: its SQLite driver is mattn/go-sqlite3. The
  # version is stamped as that script does, so `kine --version` names it; the nats tag is left
  # out (SQLite only here).
  CGO_ENABLED=1 CGO_CFLAGS="-DSQLITE_USE_ALLOCA=1" GOBIN="$BIN" nice -n 10 go install -trimpath \
    -ldflags "-s -w -X github.com/k3s-io/kine/pkg/version.Version=$KINE_VERSION" \
    "github.com/k3s-io/kine@$KINE_VERSION"
  stamp_set kine "$want"
fi

# ---- Seldon operator (and executor) ----------------------------------------------------------
bash "$ROOT/scripts/real/install-seldon.sh"

# ---- versions -------------------------------------------------------------------------------
step "versions"
echo "kube-apiserver: $("$BIN/kube-apiserver" --version 2>&1)"
echo "kubectl: $("$BIN/kubectl" version --client 2>&1 | head -n 1)"
echo "kine: $("$BIN/kine" --version 2>&1 | head -n 1)"
echo "go: $GO_VERSION; cache: $CACHE (t+$((SECONDS - START))s)"
