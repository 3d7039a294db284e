#!/usr/bin/env bash
# Builds promtool (Prometheus's rule checker and rule unit-test runner) into the cache:
# ${RMLOPS_CACHE:-<repo>/.cache}/bin/promtool, from the wrapper module e2e/go/promtool, which
# requires github.com/prometheus/prometheus at the version versions.json pins
# (promtool.prometheusModule; the module's v0.3XX.Y is Prometheus release 3.XX.Y,
# promtool.release). The modules come from the Go module proxy, checked against its go.sum.
# Idempotent: the stamp holds a hash of go.mod and go.sum, Go and the release, so a rerun only
# prints the version.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

MODULE_VERSION="$(pin v.promtool.prometheusModule)"
RELEASE="$(pin v.promtool.release)"
SRC="$ROOT/e2e/go/promtool"
OUT="$BIN/promtool"

step "promtool $RELEASE (github.com/prometheus/prometheus $MODULE_VERSION)"
if ! grep -qx "require github.com/prometheus/prometheus $MODULE_VERSION" "$SRC/go.mod"; then
  echo "e2e/go/promtool/go.mod does not require github.com/prometheus/prometheus $MODULE_VERSION (versions.json promtool.prometheusModule)" >&2
  exit 1
fi
require_go "promtool"
# What `promtool --version` prints: the release build stamps these through the linker.
V=github.com/prometheus/common/version
LDFLAGS="-s -w -X $V.Version=$RELEASE -X $V.Branch=HEAD -X $V.BuildUser=rmlops-cdk8s -X $V.Revision=$MODULE_VERSION"
want="$(cat "$SRC/go.mod" "$SRC/go.sum" | sha256sum | cut -c1-16) $GO_VERSION $RELEASE"
if stamp_ok promtool "$want" && [[ -x "$OUT" ]]; then
  echo "up to date"
else
  # -mod=readonly: exactly go.mod and go.sum. The build tags are Prometheus's own release tags.
  (cd "$SRC" && CGO_ENABLED=0 nice -n 10 go build -mod=readonly -trimpath -tags netgo,builtinassets \
    -ldflags "$LDFLAGS" -o "$OUT.tmp" github.com/prometheus/prometheus/cmd/promtool)
  mv "$OUT.tmp" "$OUT"
  stamp_set promtool "$want"
fi
"$OUT" --version | head -n 1
