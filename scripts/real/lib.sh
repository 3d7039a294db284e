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
