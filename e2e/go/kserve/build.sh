#!/usr/bin/env bash
# Builds KServe v0.20.0's controller manager (cmd/manager) through the wrapper module beside this
# script. Usage: build.sh OUT_BINARY (exit codes: see ../build-wrapper.sh; 3 = the proxy refuses it).
here="$(dirname "$0")"
exec bash "$here/../build-wrapper.sh" "$here" github.com/kserve/kserve/cmd/manager \
  github.com/kserve/kserve@v0.20.0 "${1:?usage: build.sh OUT_BINARY}"
