#!/usr/bin/env bash
# Builds what the KServe scenarios run against the loopback control plane of install-cluster.sh,
# into the shared cache (${RMLOPS_CACHE:-<repo>/.cache}):
#   bin/kserve-manager        KServe v0.20.0's controller manager (cmd/manager), from the wrapper
#                             module e2e/go/kserve (the Go module proxy may refuse it: then the
#                             reason is printed, written to bin/kserve-manager.unavailable, and
#                             this script exits 3 so the scenarios are skipped with it;
#                             RMLOPS_KSERVE_MANAGER names a binary to use instead)
#   kserve/v0.20.0/crd/       the CRDs of the module's config/crd/full (InferenceService, ...)
#   kserve/v0.20.0/configmap/ the module's config/configmap/inferenceservice.yaml
#   kserve/v0.20.0/{rbac,manager,webhook}/  the module's install manifests for the manager (its
#                             ServiceAccount, ClusterRole, leader-election Role and bindings, its
#                             Deployment, the webhook Service and configurations), with which
#                             e2e/node/kserve.js runs the manager in-cluster on the real node
# Idempotent: the build and the copy each write a stamp; a rerun with the same inputs only prints
# versions. Compiles run under `nice` because the build machines are shared.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

KSERVE_MODULE=github.com/kserve/kserve
# The pins live in versions.json ("kserve", "kserveCommit": the commit of the tag, as the module
# proxy reports it in Origin.Hash); e2e/go/kserve/go.mod requires the same version.
KSERVE_VERSION="v$(node -p "require('$ROOT/versions.json').kserve")"
KSERVE_COMMIT="$(node -p "require('$ROOT/versions.json').kserveCommit")"
if ! grep -q "^require $KSERVE_MODULE $KSERVE_VERSION\$" "$ROOT/e2e/go/kserve/go.mod"; then
  echo "e2e/go/kserve/go.mod does not require $KSERVE_MODULE $KSERVE_VERSION (versions.json)" >&2
  exit 1
fi
KSERVE_DIR="$ROOT/e2e/go/kserve"
KSERVE_CONFIG="$CACHE/kserve/$KSERVE_VERSION"

require_go "the KServe manager"

unavailable() {
  echo "$1" >"$BIN/kserve-manager.unavailable"
  echo "kserve: unavailable: $1"
  exit 3
}

# ---- controller manager ---------------------------------------------------------------------
step "kserve manager $KSERVE_VERSION"
if [[ -n "${RMLOPS_KSERVE_MANAGER:-}" ]]; then
  echo "using RMLOPS_KSERVE_MANAGER=$RMLOPS_KSERVE_MANAGER"
else
  rc=0
  bash "$KSERVE_DIR/build.sh" "$BIN/kserve-manager" || rc=$?
  if ((rc == 3)); then
    exit 3 # build-wrapper.sh printed the reason and wrote bin/kserve-manager.unavailable
  elif ((rc != 0)); then
    echo "e2e/go/kserve/build.sh failed ($rc)" >&2
    exit "$rc"
  fi
fi

# ---- CRDs and the inferenceservice-config ConfigMap, from the same module version -----------
step "kserve config $KSERVE_VERSION"
INSTALL_FILES=(rbac/service_account.yaml rbac/role.yaml rbac/role_binding.yaml rbac/leader_election_role.yaml
  rbac/leader_election_role_binding.yaml manager/manager.yaml webhook/manifests.yaml webhook/service.yaml)
want="$KSERVE_MODULE@$KSERVE_VERSION crd/full/**/serving.kserve.io_*.yaml configmap/inferenceservice.yaml ${INSTALL_FILES[*]}"
if stamp_ok kserve-config "$want" && [[ -f "$KSERVE_CONFIG/configmap/inferenceservice.yaml" ]]; then
  echo "up to date"
else
  log="$(mktemp)"
  # Inside the wrapper module, so its go.sum checks the download.
  info="$(cd "$KSERVE_DIR" && go mod download -json "$KSERVE_MODULE@$KSERVE_VERSION" 2>"$log")" || true
  dir="$(sed -nE 's/^\s*"Dir": "(.*)",?$/\1/p' <<<"$info")"
  hash="$(sed -nE 's/^\s*"Hash": "(.*)",?$/\1/p' <<<"$info")"
  if [[ -z "$dir" || ! -d "$dir/config/crd/full" ]]; then
    if grep -qE '403 Forbidden|not available|410 Gone|404 Not Found' "$log"; then
      unavailable "the Go module proxy does not serve $KSERVE_MODULE@$KSERVE_VERSION: $(head -c 300 "$log")"
    fi
    cat "$log" >&2
    echo "could not locate $KSERVE_MODULE@$KSERVE_VERSION in the module cache" >&2
    exit 1
  fi
  rm -f "$log"
  # The proxy reports the commit only when it fetched the module itself (not from a GOPROXY=off cache).
  if [[ -n "$hash" && "$hash" != "$KSERVE_COMMIT" ]]; then
    echo "$KSERVE_MODULE@$KSERVE_VERSION is commit $hash, versions.json pins $KSERVE_COMMIT" >&2
    exit 1
  fi
  rm -rf "$KSERVE_CONFIG"
  mkdir -p "$KSERVE_CONFIG/crd" "$KSERVE_CONFIG/configmap"
  # Every CRD of the full set (the llmisvc and localmodel ones live in subfolders), without the
  # kustomize files and patches (the llmisvc conversion-webhook patches need a Service and
  # cert-manager); the module cache is read-only, so the copies are made writable.
  find "$dir/config/crd/full" -name 'serving.kserve.io_*.yaml' -exec cp {} "$KSERVE_CONFIG/crd/" \;
  cp "$dir/config/configmap/inferenceservice.yaml" "$KSERVE_CONFIG/configmap/"
  for f in "${INSTALL_FILES[@]}"; do
    mkdir -p "$KSERVE_CONFIG/$(dirname "$f")"
    cp "$dir/config/$f" "$KSERVE_CONFIG/$f"
  done
  chmod -R u+w "$KSERVE_CONFIG"
  stamp_set kserve-config "$want"
  echo "copied from $dir"
fi

# ---- versions -------------------------------------------------------------------------------
step "versions"
manager="${RMLOPS_KSERVE_MANAGER:-$BIN/kserve-manager}"
built_from="$(go version -m "$manager" 2>/dev/null | awk '($1 == "mod" || $1 == "dep") && $2 == "'"$KSERVE_MODULE"'" {print $3}')"
echo "kserve manager: $manager (${built_from:-module version not recorded})"
echo "kserve config: $KSERVE_CONFIG ($(ls "$KSERVE_CONFIG/crd" | wc -l) CRDs)"
echo "go: $GO_VERSION; cache: $CACHE (t+$((SECONDS - START))s)"
