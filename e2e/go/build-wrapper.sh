#!/usr/bin/env bash
# Builds a main package through a wrapper module (a go.mod that requires the real module and
# repeats its replace directives against module versions), from the Go module proxy.
# Usage: build-wrapper.sh WRAPPER_DIR MAIN_PACKAGE WHAT OUT_BINARY
#   WHAT names the module version in messages, e.g. github.com/kserve/kserve@v0.20.0
# Exit 0: built (or already built from the same wrapper and Go). Exit 3: the proxy cannot supply
# the module; the reason is printed and written to OUT_BINARY.unavailable, so a harness can report
# its scenarios as skipped with it. Any other failure is a real build error.
set -euo pipefail
dir="$(cd "$1" && pwd)"
pkg="$2"
what="$3"
out="$4"
name="$(basename "$out")"
mkdir -p "$(dirname "$out")"
stamp="$out.stamp"
want="$(cat "$dir"/go.mod "$dir"/tools.go "$dir"/go.sum 2>/dev/null | sha256sum | cut -d' ' -f1) $(go env GOVERSION)"
if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$name: cached ($out)"
  exit 0
fi
rm -f "$out.unavailable"
# Built in a scratch copy: -mod=mod adds the sums the committed go.sum lacks (those of the refused
# module itself at least), which must not dirty the repository.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$dir/go.mod" "$dir/tools.go" "$work/"
if [[ -f "$dir/go.sum" ]]; then cp "$dir/go.sum" "$work/"; fi
log="$work/build.log"
# cgo stays on: the executor links librdkafka through confluent-kafka-go's bundled static library.
if (cd "$work" && CGO_ENABLED=1 GOFLAGS=-mod=mod nice -n 10 go build -trimpath -o "$out.tmp" "$pkg") >"$log" 2>&1; then
  mv "$out.tmp" "$out"
  echo "$want" >"$stamp"
  echo "$name: built $out"
  exit 0
fi
rm -f "$out.tmp"
if grep -qE '403 Forbidden|not available|410 Gone|404 Not Found' "$log"; then
  reason="the Go module proxy does not serve $what: $(grep -m1 -E '403|410|404|not available' "$log" | cut -c1-300)"
  echo "$reason" >"$out.unavailable"
  echo "$name: unavailable: $reason"
  exit 3
fi
cat "$log" >&2
exit 1
