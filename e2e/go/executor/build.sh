#!/usr/bin/env bash
# Builds Seldon Core's executor 1.17.1 through the wrapper module beside this script.
# Usage: build.sh OUT_BINARY (exit codes: see ../build-wrapper.sh; 3 = the proxy refuses it).
here="$(dirname "$0")"
exec bash "$here/../build-wrapper.sh" "$here" github.com/seldonio/seldon-core/executor/cmd/executor \
  github.com/seldonio/seldon-core/executor@v0.0.0-20230815125652-822053e7bbc8 "${1:?usage: build.sh OUT_BINARY}"
