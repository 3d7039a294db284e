#!/usr/bin/env bash
# Installs or builds the real components the e2e harness runs, pinned in versions.json, into a
# cache folder (${RMLOPS_CACHE:-<repo>/.cache}): the MLflow server (PyPI), the MinIO server and mc
# (Go modules, built with their release version stamped in), Seldon's executor and operator (from
# the source archive in ../shared/third_party: install-seldon.sh), the payload sink (sink/:
# install-sink.sh) and the rmlops R package.
# Idempotent: each step writes a stamp holding what it built, and a rerun with the same pins only
# prints versions.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

if [[ ! -f "$ROOT/versions.json" ]]; then
  echo "versions.json not found at $ROOT: it holds the pins this script installs" >&2
  exit 1
fi


# ---- MLflow ---------------------------------------------------------------------------------
MLFLOW_VERSION="$(pin v.mlflow)"
VENV="$CACHE/mlflow-venv"
# boto3 is not an mlflow dependency, but the artifact proxy needs it to reach S3.
want="mlflow==$MLFLOW_VERSION boto3"
step "mlflow venv: $want"
if stamp_ok mlflow "$want" && [[ -x "$VENV/bin/mlflow" ]]; then
  echo "up to date"
else
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --disable-pip-version-check --no-input -q "mlflow==$MLFLOW_VERSION" boto3
  stamp_set mlflow "$want"
fi

# ---- Go modules: MinIO and mc ---------------------------------------------------------------
# The proxy serves these modules only at their pseudo-versions (not at the RELEASE.* tag names),
# so a plain `go install` leaves `--version` saying DEVELOPMENT.GOGET. The release's Makefile
# stamps the version through these linker variables; we set the same ones.
go_ldflags() { # module release commit
  local mod="$1" release="$2" commit="$3" stamp iso year
  stamp="${release#RELEASE.}"                       # 2025-09-07T16-13-09Z
  iso="${stamp:0:10}T${stamp:11:2}:${stamp:14:2}:${stamp:17:2}Z"
  year="${stamp:0:4}"
  printf -- '-s -w -X %s/cmd.Version=%s -X %s/cmd.CopyrightYear=%s -X %s/cmd.ReleaseTag=%s -X %s/cmd.CommitID=%s -X %s/cmd.ShortCommitID=%s' \
    "$mod" "$iso" "$mod" "$year" "$mod" "$release" "$mod" "$commit" "$mod" "${commit:0:12}"
}

go_build() { # name module key
  local name="$1" mod="$2" key="$3" release commit gover ldflags want
  release="$(pin "v.$key.release")"
  commit="$(pin "v.$key.commit")"
  gover="$(pin "v.$key.goVersion")"
  ldflags="$(go_ldflags "$mod" "$release" "$commit")"
  want="$mod@$gover $ldflags"
  step "$name: $mod@$gover ($release)"
  if stamp_ok "$name" "$want" && [[ -x "$BIN/$name" ]]; then
    echo "up to date"
    return
  fi
  require_go "$name"
  # sum.golang.org is reached through the proxy here, and it has no entry for some of these
  # pseudo-versions (404): GONOSUMDB skips that lookup for this one module only, and the module's
  # hash is then checked against the one recorded in EXPECTED_SUMS below instead.
  local expected="${EXPECTED_SUMS[$mod@$gover]:-}"
  local sum
  sum="$(cd "$CACHE" && GONOSUMDB="$mod" go mod download -json "$mod@$gover" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(j.Error){console.error(j.Error);process.exit(1)}console.log(j.Sum)})')"
  if [[ -n "$expected" && "$sum" != "$expected" ]]; then
    echo "$mod@$gover: module hash $sum, expected $expected: refusing to build" >&2
    exit 1
  fi
  echo "module hash: $sum"
  GONOSUMDB="$mod" GOBIN="$BIN" go install -ldflags "$ldflags" "$mod@$gover"
  stamp_set "$name" "$want"
}

# h1: hashes of the module zips as first downloaded here (go mod download -json), so a second
# machine that cannot verify them through sum.golang.org gets exactly the same source.
declare -A EXPECTED_SUMS=(
  ["github.com/minio/mc@v0.0.0-20250813083541-7394ce0dd2a8"]="h1:9tuRE4iEaDkuxatxe7pddYYh1SX5mT0/D0haofZFeTY="
)

go_build minio github.com/minio/minio minio
go_build mc github.com/minio/mc mc

# ---- Seldon executor and operator -------------------------------------------------------------
# RMLOPS_SKIP_SELDON=1: an installed package (`npx rmlops-cdk8s dev`) has no source archive to
# build them from; the local pipeline then serves each R server without the executor in front.
if [[ -n "${RMLOPS_SKIP_SELDON:-}" ]]; then
  step "Seldon executor and operator: skipped (RMLOPS_SKIP_SELDON=$RMLOPS_SKIP_SELDON)"
else
  bash "$ROOT/scripts/real/install-seldon.sh"
fi

# ---- the payload sink (sink/) -------------------------------------------------------------------
bash "$ROOT/scripts/real/install-sink.sh"

# ---- R --------------------------------------------------------------------------------------
step "R package"
R_LIBS_ROOT="$CACHE/r-lib"
if ! command -v Rscript >/dev/null; then
  echo "Rscript not found: apt-get install \$(grep -v '^#' r/packages.txt)" >&2
  exit 1
fi
if [[ -f "$ROOT/r/DESCRIPTION" ]]; then
  # One library per content hash of r/ (e2e/lib/local.js computes the same hash to find it), so
  # that work trees with different r/ sharing this cache never overwrite each other's package.
  want="$(node "$ROOT/e2e/lib/local.js" --r-sources-hash)"
  R_LIB="$R_LIBS_ROOT/$want"
  if [[ -f "$R_LIB/.installed" ]]; then
    echo "up to date ($R_LIB)"
  else
    mkdir -p "$R_LIBS_ROOT"
    # Before 2026-12 the library was $CACHE/r-lib itself: drop that layout.
    [[ -d "$R_LIBS_ROOT/rmlops" ]] && rm -rf "$R_LIBS_ROOT/rmlops"
    tmp="$(mktemp -d "$R_LIBS_ROOT/.tmp.XXXXXX")"
    # From a copy, as the images do: R CMD INSTALL compiles in the source folder, and the objects
    # it leaves there must not land in the others' work tree.
    src="$(mktemp -d)"
    cp -r "$ROOT/r/." "$src/"
    rm -rf "$src/tests" "$src/model"
    rc=0
    R CMD INSTALL --no-test-load -l "$tmp" "$src" || rc=$?
    rm -rf "$src"
    ((rc == 0)) || { rm -rf "$tmp"; echo "R CMD INSTALL of r/ failed ($rc)" >&2; exit "$rc"; }
    touch "$tmp/.installed"
    rm -rf "$R_LIB" && mv "$tmp" "$R_LIB"
    # Keep the eight newest libraries: enough for a few work trees, bounded on disk.
    ls -1dt "$R_LIBS_ROOT"/*/ 2>/dev/null | tail -n +9 | xargs -r rm -rf
    echo "installed into $R_LIB"
  fi
else
  echo "r/ has no DESCRIPTION: the R programs run from r/ directly"
fi

# ---- versions -------------------------------------------------------------------------------
step "versions"
echo "mlflow: $("$VENV/bin/mlflow" --version 2>&1 | tail -n 1), boto3 $("$VENV/bin/python" -c 'import boto3; print(boto3.__version__)')"
echo "minio: $("$BIN/minio" --version 2>&1 | head -n 1)"
echo "mc: $("$BIN/mc" --version 2>&1 | head -n 1)"
echo "R: $(Rscript -e 'cat(R.version.string)' 2>&1)"
echo "cache: $CACHE (t+$((SECONDS - START))s)"
