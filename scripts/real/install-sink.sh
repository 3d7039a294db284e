#!/usr/bin/env bash
# Builds the payload sink (sink/, Go) into the cache: ${RMLOPS_CACHE:-<repo>/.cache}/bin/payload-sink,
# static (CGO off), its version (versions.json payloadSink.version) stamped in. Its S3 client is
# minio-go at the version versions.json pins (payloadSink.minioGo), which sink/go.mod must require;
# the modules come from the Go module proxy and are checked against sink/go.sum. Idempotent: the
# stamp holds a hash of sink/'s files, Go and the version, so a rerun only prints the version.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

VERSION="$(pin v.payloadSink.version)"
MINIO_GO="$(pin v.payloadSink.minioGo)"
SRC="$ROOT/sink"
OUT="$BIN/payload-sink"

step "payload sink $VERSION (sink/, minio-go $MINIO_GO)"
if ! grep -qE "^\s*(require\s+)?github.com/minio/minio-go/v7 $MINIO_GO\$" "$SRC/go.mod"; then
  echo "sink/go.mod does not require github.com/minio/minio-go/v7 $MINIO_GO (versions.json payloadSink.minioGo)" >&2
  exit 1
fi
require_go "the payload sink"
# What the build reads, and only that: the installed npm package ships sink/ without its tests,
# and must stamp the same binary as the repository (they share the cache).
want="$( (cd "$SRC" && find . -maxdepth 1 -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum \)) | LC_ALL=C sort | (cd "$SRC" && xargs sha256sum) | sha256sum | cut -c1-16) $GO_VERSION $VERSION"
if stamp_ok payload-sink "$want" && [[ -x "$OUT" ]]; then
  echo "up to date"
else
  # -mod=readonly: the build uses exactly sink/go.mod and go.sum, never an edited copy.
  (cd "$SRC" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$OUT.tmp" .)
  mv "$OUT.tmp" "$OUT"
  stamp_set payload-sink "$want"
fi
echo "payload-sink: $("$OUT" --version) ($(stat -c %s "$OUT") bytes, $(go version -m "$OUT" | awk '$2 == "github.com/minio/minio-go/v7" {print "minio-go " $3}'))"
