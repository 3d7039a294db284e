#!/usr/bin/env bash
# Builds the rmlops R package from r/ and runs `R CMD check --no-manual` on it in a temporary
# folder. Prints the check's summary; exits non-zero if the build fails or the check reports any
# ERROR or WARNING (NOTEs are printed, not fatal).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rmlops-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
# The check runs the examples and tests; no network is needed.
export _R_CHECK_FORCE_SUGGESTS_=true
if ! R CMD build --no-manual "$ROOT/r" >build.log 2>&1; then
  cat build.log >&2
  echo "r-check: R CMD build failed" >&2
  exit 1
fi
tarball="$(ls rmlops_*.tar.gz)"
status=0
R CMD check --no-manual "$tarball" >check.log 2>&1 || status=$?
# The summary: every check that was not OK, and the closing status line.
grep -E '\.\.\. (NOTE|WARNING|ERROR)' check.log || true
sed -n '/^Status:/p' check.log
if grep -qE '^\* checking .*\.\.\. (WARNING|ERROR)|^Status: .*(ERROR|WARNING)' check.log || ((status != 0)); then
  echo "--- R CMD check log (rmlops.Rcheck/00check.log) ---" >&2
  cat rmlops.Rcheck/00check.log >&2 2>/dev/null || cat check.log >&2
  for f in rmlops.Rcheck/tests/*.Rout.fail; do [[ -f "$f" ]] && { echo "--- $f ---" >&2; tail -n 60 "$f" >&2; }; done
  echo "r-check: R CMD check reported errors or warnings" >&2
  exit 1
fi
# NOTE details, so they can be fixed or listed.
awk '/\.\.\. NOTE/{p=1; print; next} /^\* /{p=0} p' check.log
echo "r-check: OK ($tarball)"
