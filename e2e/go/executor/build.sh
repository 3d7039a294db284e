#!/usr/bin/env bash
# Builds Seldon Core's executor 1.17.1 from the Go module proxy through the wrapper module beside
# this script. Usage: build.sh OUT_BINARY
# Exit 0: built (or already built from the same go.mod). Exit 3: the proxy cannot supply the
# module; the reason is printed and written to OUT_BINARY.unavailable so the harness can report
# the executor scenarios as skipped with it. Any other failure is a real build error.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build.sh OUT_BINARY}"
mkdir -p "$(dirname "$out")"
stamp="$out.stamp"
want="$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -d' ' -f1)"
if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "seldon-executor: cached ($out)"
  exit 0
fi
rm -f "$out.unavailable"
# Built in a scratch copy: -mod=mod adds the executor's own go.sum lines, which must not dirty
# the repository.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/go.mod" "$here/go.sum" "$here/tools.go" "$work/"
log="$work/build.log"
# The executor links librdkafka through confluent-kafka-go's bundled static library: cgo is required.
if (cd "$work" && CGO_ENABLED=1 GOFLAGS=-mod=mod go build -trimpath -o "$out.tmp" \
      github.com/seldonio/seldon-core/executor/cmd/executor) >"$log" 2>&1; then
  mv "$out.tmp" "$out"
  echo "$want" >"$stamp"
  echo "seldon-executor: built $out"
  exit 0
fi
rm -f "$out.tmp"
if grep -qE '403 Forbidden|not available|410 Gone|404 Not Found' "$log"; then
  reason="the Go module proxy does not serve github.com/seldonio/seldon-core/executor@v0.0.0-20230815125652-822053e7bbc8: $(grep -m1 -E '403|410|404|not available' "$log" | cut -c1-300)"
  echo "$reason" >"$out.unavailable"
  echo "seldon-executor: unavailable: $reason"
  exit 3
fi
cat "$log" >&2
exit 1
