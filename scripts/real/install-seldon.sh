#!/usr/bin/env bash
# Builds Seldon Core's executor and operator (1.17.1, the last Apache-2.0 release) from the source
# archive in ../shared/third_party/, into the cache (${RMLOPS_CACHE:-<repo>/.cache}/bin):
#   seldon-executor   executor/cmd/executor (cgo on: it links librdkafka statically)
#   seldon-operator   operator/
# The Go module proxy refuses github.com/seldonio/seldon-core/{executor,operator} (403 at every
# version), so the source comes from the archive and only their dependencies from the proxy.
#
# The archive's sha256 is checked against versions.json before anything is unpacked; a missing or
# different archive stops the build (exit 1) with what to do. Each binary is written with a
# provenance file beside it (<binary>.source.json: archive sha256, commit, Go version, binary
# sha256) that the scenarios check. Idempotent: a rerun with the same archive and Go only prints
# versions. RMLOPS_SELDON_EXECUTOR / RMLOPS_SELDON_OPERATOR name prebuilt binaries instead (then
# nothing is built for that one).
set -euo pipefail

. "$(dirname "$0")/lib.sh"

VERSION="$(pin v.seldonCore)"
COMMIT="$(pin v.seldonCoreCommit)"
SHA256="$(pin v.seldonCoreSourceSha256)"
ARCHIVE="${RMLOPS_SELDON_SOURCE:-$ROOT/../shared/third_party/seldon-core-$VERSION.tar.gz}"
SRC="$CACHE/src/seldon-core-$VERSION"

require_go "Seldon's executor and operator"

need_build=0
for name in executor operator; do
  var="RMLOPS_SELDON_${name^^}"
  [[ -n "${!var:-}" ]] && continue
  stamp_ok "seldon-$name" "$SHA256 $GO_VERSION" && [[ -x "$BIN/seldon-$name" ]] || need_build=1
done

step "seldon-core $VERSION source ($ARCHIVE)"
if ((need_build == 0)); then
  echo "up to date"
else
  if [[ ! -f "$ARCHIVE" ]]; then
    echo "no Seldon source archive at $ARCHIVE: it is shared/third_party/seldon-core-$VERSION.tar.gz beside the repository (or set RMLOPS_SELDON_SOURCE to it)" >&2
    exit 1
  fi
  got="$(sha256sum "$ARCHIVE" | cut -d' ' -f1)"
  if [[ "$got" != "$SHA256" ]]; then
    echo "$ARCHIVE: sha256 $got, expected $SHA256 (versions.json seldonCoreSourceSha256): refusing to unpack it" >&2
    exit 1
  fi
  echo "sha256 $got: matches versions.json"
  # Unpacked afresh into a scratch folder, then moved into place: a build never sees a half-written
  # tree, and the go.mod/go.sum that -mod=mod rewrites are the cache's copy, not the archive's.
  mkdir -p "$CACHE/src"
  tmp="$(mktemp -d "$CACHE/src/.unpack-XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  tar -xzf "$ARCHIVE" -C "$tmp"
  [[ -d "$tmp/seldon-core-$VERSION/executor" && -d "$tmp/seldon-core-$VERSION/operator" ]] || {
    echo "$ARCHIVE does not hold seldon-core-$VERSION/{executor,operator}" >&2
    exit 1
  }
  # executor/go.mod replaces the operator module with ./_operator, which upstream's Makefile fills
  # with a copy of ../operator; a symlink does the same.
  ln -s ../operator "$tmp/seldon-core-$VERSION/executor/_operator"
  rm -rf "$SRC"
  mv "$tmp/seldon-core-$VERSION" "$SRC"
fi

# Usage: build NAME DIR PACKAGE CGO
build() {
  local name="$1" dir="$2" pkg="$3" cgo="$4" var out
  var="RMLOPS_SELDON_${name^^}"
  out="$BIN/seldon-$name"
  step "seldon $name $VERSION"
  if [[ -n "${!var:-}" ]]; then
    echo "using $var=${!var}"
    return
  fi
  if stamp_ok "seldon-$name" "$SHA256 $GO_VERSION" && [[ -x "$out" ]]; then
    echo "up to date"
    return
  fi
  # -mod=mod: the archive's go.sum predates the module graph Go 1.2x resolves (it adds sums), and
  # the modules come from the proxy. Written to .tmp and moved: no half-written binary is cached.
  (cd "$SRC/$dir" && CGO_ENABLED="$cgo" GOFLAGS=-mod=mod nice -n 10 go build -trimpath -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
  rm -f "$out.unavailable" # left by the former proxy build, which could not fetch the module
  printf '{"name":"seldon-%s","version":"%s","commit":"%s","archiveSha256":"%s","go":"%s","binarySha256":"%s"}\n' \
    "$name" "$VERSION" "$COMMIT" "$SHA256" "$GO_VERSION" "$(sha256sum "$out" | cut -d' ' -f1)" >"$out.source.json"
  stamp_set "seldon-$name" "$SHA256 $GO_VERSION"
}

build executor executor ./cmd/executor 1
build operator operator . 0

step "versions"
for name in executor operator; do
  var="RMLOPS_SELDON_${name^^}"
  if [[ -n "${!var:-}" ]]; then
    echo "seldon $name: ${!var} (from $var, not built here)"
  else
    echo "seldon $name: $BIN/seldon-$name, seldon-core $VERSION commit $COMMIT, source sha256 $SHA256"
  fi
done
echo "go: $GO_VERSION; cache: $CACHE (t+$((SECONDS - START))s)"
