#!/usr/bin/env bash
# Fuzzes the R model server (issue 19), bounded in time; `npm run fuzz` and a .ci/run step.
#  1. libFuzzer with ASan and UBSan (clang from Debian) on the C request-head scanner and the
#     JSON validator (r/src/wire.c), each from the committed seed corpus in fuzz/corpus/ for
#     FUZZ_SECONDS (default 45). A crash fails the run and leaves its input under $RMLOPS_CACHE/fuzz.
#  2. fuzz/protocol.py against the running server: the hostile cases, worker deaths, and
#     Schemathesis (PyPI, pinned in versions.json) from docs/openapi/ for FUZZ_API_SECONDS
#     (default 60) per file, with /prometheus parsed by prometheus_client after every case.
# Prints executions and time. Builds live in $RMLOPS_CACHE; reruns reuse them.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${RMLOPS_CACHE:-$HOME/.cache/rmlops-cdk8s}"
SECONDS_EACH="${FUZZ_SECONDS:-45}"
API_SECONDS="${FUZZ_API_SECONDS:-60}"
FUZZ="$CACHE/fuzz"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rmlops-fuzz.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
START=$SECONDS
mkdir -p "$FUZZ/bin"
step() { printf '\n--- fuzz: %s (t+%ss)\n' "$*" "$((SECONDS - START))"; }

step "libFuzzer targets (ASan + UBSan)"
CLANG="$(command -v clang || command -v clang-14 || true)"
if [[ -z "$CLANG" ]]; then
  echo "fuzz: clang is not installed (Debian package clang-14, listed in r/packages.txt)" >&2
  exit 1
fi
echo "clang: $("$CLANG" --version | head -n 1)"
for target in head json; do
  bin="$FUZZ/bin/${target}_fuzz"
  src=("$ROOT/fuzz/${target}_fuzz.c" "$ROOT/r/src/wire.c")
  if [[ ! -x "$bin" || -n "$(find "${src[@]}" "$ROOT/r/src/wire.h" -newer "$bin")" ]]; then
    nice -n 10 "$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
      -I "$ROOT/r/src" "${src[@]}" -o "$bin.tmp"
    mv "$bin.tmp" "$bin"
  fi
done
# The two targets run at once, one per core: each still gets its whole FUZZ_SECONDS, and the
# step takes half the wall time it took one after the other.
declare -A pids
for target in head json; do
  # The working corpus grows in the cache; the committed seeds are never written to.
  corpus="$FUZZ/corpus-$target"
  mkdir -p "$corpus"
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
    nice -n 10 "$FUZZ/bin/${target}_fuzz" -max_total_time="$SECONDS_EACH" -max_len=8192 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$FUZZ/crash-$target-" "$corpus" "$ROOT/fuzz/corpus/$target" >"$WORK/$target.log" 2>&1 &
  pids[$target]=$!
done
failed=0
for target in head json; do
  log="$WORK/$target.log"
  status=0
  wait "${pids[$target]}" || status=$?
  execs="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)"
  took="$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log" | tail -n 1)"
  if ((status != 0)); then
    tail -n 60 "$log" >&2
    echo "fuzz: libFuzzer found a crash in $target (exit $status): the input is in $FUZZ/crash-$target-*; add it to fuzz/corpus/$target and a regression test" >&2
    failed=1
    continue
  fi
  echo "libfuzzer $target: ${execs:-?} executions in ${SECONDS_EACH} s (${took:-?}/s), 0 crashes; corpus $(ls "$FUZZ/corpus-$target" | wc -l) inputs"
done
((failed == 0)) || exit 1

step "Python venv: Schemathesis and prometheus_client"
pin() { node -e "const v = require(process.argv[1]); console.log($1)" "$ROOT/versions.json"; }
want="schemathesis==$(pin v.fuzz.schemathesis) prometheus_client==$(pin v.fuzz.prometheusClient)"
VENV="$CACHE/fuzz-venv"
if [[ "$(cat "$VENV/.pins" 2>/dev/null)" != "$want" ]]; then
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $want
  echo "$want" >"$VENV/.pins"
fi
echo "$want"

step "the R package and an iris bundle"
R_LIB="$WORK/r-lib"
mkdir -p "$R_LIB"
nice -n 10 R CMD INSTALL --clean --no-test-load -l "$R_LIB" "$ROOT/r" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log" >&2; exit 1; }
R_LIBS="$R_LIB" TRAINING_SCRIPT="$ROOT/examples/iris/train.R" MODEL_DIR="$WORK/bundle" TMPDIR="$WORK" \
  nice -n 10 Rscript "$ROOT/r/train.R" >"$WORK/train.log" 2>&1 || { cat "$WORK/train.log" >&2; exit 1; }

step "protocol fuzzing of the running server"
"$VENV/bin/python" "$ROOT/fuzz/protocol.py" --root "$ROOT" --r-lib "$R_LIB" --bundle "$WORK/bundle" --work "$WORK" \
  --schemathesis "$VENV/bin/schemathesis" --seconds "$API_SECONDS"

echo "fuzz: done in $((SECONDS - START)) s"
