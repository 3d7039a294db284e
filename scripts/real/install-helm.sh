#!/usr/bin/env bash
# Builds Helm from its Go module into the cache folder shared with the other real-component
# scripts (${RMLOPS_CACHE:-<repo>/.cache}/bin/helm), for `npm run e2e:helm`. Idempotent: the
# stamp records what was built; a rerun with the same inputs only prints the version. The compile
# runs under `nice` because the build machines are shared.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

HELM_VERSION=v3.19.0

require_go "helm"
# Kubernetes modules of that release (its go.mod: k8s.io/client-go v0.34.0).
K8S_MAJOR=1
K8S_MINOR=34
# A module build leaves these variables at their source defaults; the release Makefile sets them
# through the linker. The version makes `helm version` name the release we pinned; the Kubernetes
# version is what `helm template` assumes without a cluster (the source default is 1.20, which
# would fail a chart's kubeVersion constraint). The git commit is left empty: the module proxy
# does not report it for this tag.
LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  LDFLAGS+=" -X $p.k8sVersionMajor=$K8S_MAJOR -X $p.k8sVersionMinor=$K8S_MINOR"
done
want="helm.sh/helm/v3@$HELM_VERSION $(go env GOVERSION) $LDFLAGS"
step "helm $HELM_VERSION"
if stamp_ok helm "$want" && [[ -x "$BIN/helm" ]]; then
  echo "up to date"
else
  rm -f "$STAMPS/helm"
  CGO_ENABLED=0 GOBIN="$BIN" nice -n 10 go install -trimpath -ldflags "$LDFLAGS" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  stamp_set helm "$want"
fi
"$BIN/helm" version --short
printf '== done in %ss\n' "$((SECONDS - START))"
