# Shared by the install scripts in this folder (sourced, not run): where the cache is, progress
# lines, and the stamps that make a rerun with the same inputs a no-op.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${RMLOPS_CACHE:-$ROOT/.cache}"
BIN="$CACHE/bin"
STAMPS="$CACHE/stamps"
mkdir -p "$BIN" "$STAMPS"
START=$SECONDS

step() { printf '== %s (t+%ss)\n' "$*" "$((SECONDS - START))"; }
stamp_ok() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_set() { printf '%s' "$2" >"$STAMPS/$1"; }

# A value of versions.json, by JavaScript path: pin v.minio.release. Exit 3 when it is absent.
pin() { node -e "const v = require(process.argv[1]); const x = $1; if (x === undefined) process.exit(3); console.log(x)" "$ROOT/versions.json"; }

# Stops with a message unless go is on PATH, then sets GO_VERSION. Usage: require_go WHAT
require_go() {
  if ! command -v go >/dev/null; then
    echo "go is not installed: $1 cannot be built" >&2
    exit 1
  fi
  GO_VERSION="$(go env GOVERSION)"
}
