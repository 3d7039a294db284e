#!/usr/bin/env bash
# Builds Seldon Core's operator 1.17.1 through the wrapper module beside this script (it has no
# go.sum: the proxy refused the module when the wrapper was written, so its dependency sums could
# not be recorded; -mod=mod checks each against sum.golang.org).
# Usage: build.sh OUT_BINARY (exit codes: see ../build-wrapper.sh; 3 = the proxy refuses it).
here="$(dirname "$0")"
exec bash "$here/../build-wrapper.sh" "$here" github.com/seldonio/seldon-core/operator \
  github.com/seldonio/seldon-core/operator@v1.17.1 "${1:?usage: build.sh OUT_BINARY}"
