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

# A Seldon binary (executor or operator) from its wrapper module in e2e/go/<name>/, or the one an
# environment variable names. The proxy may refuse the module: build.sh then exits 3 with the
# reason in <binary>.unavailable, and the scenarios that need it are skipped with that reason.
# Usage: seldon_build NAME ENV_VAR; sets SELDON_STATUS (empty when there is a binary).
seldon_build() {
  local name="$1" var="$2" rc=0
  SELDON_STATUS=""
  if [[ -n "${!var:-}" ]]; then
    echo "using $var=${!var}"
    return
  fi
  bash "$ROOT/e2e/go/$name/build.sh" "$BIN/seldon-$name" || rc=$?
  if ((rc == 3)); then
    SELDON_STATUS="unavailable: $(cat "$BIN/seldon-$name.unavailable")"
  elif ((rc != 0)); then
    echo "e2e/go/$name/build.sh failed ($rc)" >&2
    exit "$rc"
  fi
}

# The "versions" line of a Seldon binary. Usage: seldon_version_line NAME ENV_VAR STATUS NOTE
seldon_version_line() {
  local name="$1" var="$2" status="$3" note="$4" bin
  bin="${!var:-$BIN/seldon-$name}"
  if [[ -x "$bin" ]]; then
    echo "seldon $name: $bin$note"
  else
    echo "seldon $name: ${status:-unavailable: no binary at $bin}"
  fi
}
