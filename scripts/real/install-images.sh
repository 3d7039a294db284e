#!/usr/bin/env bash
# Builds the container images that dist/ and dist-kserve/ name, here, without Docker or a registry:
# buildah (vfs storage, chroot isolation) writes each one as a docker-archive tarball into
# ${RMLOPS_CACHE:-<repo>/.cache}/images/, and images/index.json lists them for
# `ctr -n k8s.io images import` ([{"ref", "archive", "bytes"}]). Refs: scripts/real/images.js.
#   debian base   debootstrap --variant=minbase bookworm from Debian's archive (local tag only)
#   r-serve/train `buildah bud` of r/Dockerfile.serve / r/Dockerfile.train on that base: the
#                 repository's Dockerfiles are the only recipe
#   seldon-*      the executor and operator binaries the cache holds (install-seldon.sh, or
#                 RMLOPS_SELDON_EXECUTOR / RMLOPS_SELDON_OPERATOR), with their glibc libraries
#   kserve-*      KServe's controller manager from install-kserve.sh (or RMLOPS_KSERVE_MANAGER)
#   minio, mc     the Go builds install.sh cached; mc with busybox (the provisioning Job is sh)
#   payload-sink  the static Go build of sink/ (install-sink.sh), alone, as uid 65532
#   mlflow        the Debian base, Debian's python3, mlflow==<versions.json> and boto3 from PyPI
# Usage: install-images.sh [NAME...] (default: all; `r` is r-serve and r-train). Idempotent: each image is stamped with the
# hash of its inputs, and a rerun with the same inputs only prints ref, id and size.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
# Image files must be readable by the non-root users that run them, whatever the caller's umask.
umask 022

IMAGES="$CACHE/images"
WORK="$IMAGES/work"
mkdir -p "$IMAGES" "$WORK"
ALL=(r-serve r-train payload-sink seldon-executor seldon-operator kserve-controller minio mc mlflow)
WANT=("${@:-${ALL[@]}}")
# `r`: the two R images (and the check of the r/Dockerfile.extend recipe), as docs/images.md says.
for i in "${!WANT[@]}"; do [[ "${WANT[$i]}" == r ]] && WANT[$i]="r-serve r-train"; done
read -r -a WANT <<<"${WANT[*]}"
for name in "${WANT[@]}"; do
  [[ " ${ALL[*]} " == *" $name "* ]] || { echo "no image named '$name': known are ${ALL[*]}, and r (r-serve r-train)" >&2; exit 2; }
done

for tool in buildah debootstrap; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool is not installed: apt-get install --no-install-recommends buildah debootstrap" >&2
    exit 1
  fi
done
if ((EUID != 0)); then
  echo "install-images.sh runs as root (debootstrap and buildah's vfs storage need it)" >&2
  exit 1
fi
# One run at a time on this cache (CI and a developer's node may both call it); archives and the
# index are replaced by rename, so an importer never reads a half-written file.
exec 9>"$IMAGES/.lock"
if ! flock -n 9; then
  echo "another install-images.sh holds $IMAGES/.lock: waiting for it"
  flock 9
fi

# buildah on its own storage in the cache, never the host's: vfs works on any filesystem, and
# chroot isolation needs no runc, no network namespace and no CNI for the RUN steps.
B() { nice -n 10 buildah --storage-driver vfs --root "$IMAGES/storage" --runroot "$IMAGES/run" "$@"; }
# The refs, read once from scripts/real/images.js.
declare -A REFS=()
while read -r name ref; do REFS[$name]="$ref"; done < <(node "$ROOT/scripts/real/images.js")
ref_of() { echo "${REFS[$1]:?no ref for $1 in scripts/real/images.js}"; }
wanted() { local n; for n in "${WANT[@]}"; do [[ "$n" == "$1" ]] && return 0; done; return 1; }
# sha256 of files' contents and names (paths relative to ROOT), for the stamps.
hash_files() { (cd "$ROOT" && printf '%s\n' "$@" | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum | cut -c1-16); }
MIRROR="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${MIRROR%/debian}/debian-security"

declare -A BUILD_SECONDS=()
# Writes the archive of an image and records how long it took. Usage: save NAME REF T0
save() {
  local name="$1" ref="$2" t0="$3" tar="$IMAGES/$1.tar"
  rm -f "$tar.tmp"
  B push -q "$ref" "docker-archive:$tar.tmp:$ref" >/dev/null
  mv -f "$tar.tmp" "$tar"
  BUILD_SECONDS[$name]=$((SECONDS - t0))
}
# An image from a root filesystem folder (no base), committed as REF. Usage: from_rootfs REF DIR CONFIG...
from_rootfs() {
  local ref="$1" dir="$2" c
  shift 2
  c="$(B from scratch)"
  # A tar keeps the owners, modes and links of the folder as they are (buildah copy would chown).
  tar -C "$dir" -cf "$WORK/rootfs.tar" .
  B add -q "$c" "$WORK/rootfs.tar" / >/dev/null
  rm -f "$WORK/rootfs.tar"
  (($# == 0)) || B config "$@" "$c"
  B commit -q --rm "$c" "$ref" >/dev/null
}
# Copies a binary and the shared libraries it loads (from this Debian host: same glibc as the
# base) into a root filesystem. Usage: with_libs BINARY DIR DEST
with_libs() {
  local bin="$1" dir="$2" dest="$3" lib
  install -D -m 0755 "$bin" "$dir$dest"
  for lib in $(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' || true); do
    # 0755: the kernel executes the dynamic loader (the interpreter), so it must be executable.
    install -D -m 0755 "$(readlink -f "$lib")" "$dir$lib"
  done
}
# Debian's busybox-static, unpacked from its package (not installed on the host), with the applet
# links a shell script needs. Usage: busybox_into DIR
busybox_into() {
  local dir="$1" deb applet
  if [[ ! -x "$WORK/busybox/bin/busybox" ]]; then
    rm -rf "$WORK/busybox" "$WORK/busybox-deb" && mkdir -p "$WORK/busybox-deb"
    # apt-get download needs the package lists; a host with none fetches them once.
    (cd "$WORK/busybox-deb" && { apt-get download -q busybox-static >/dev/null 2>&1 ||
      { apt-get -q update >/dev/null && apt-get download -q busybox-static >/dev/null; }; })
    deb="$(ls "$WORK"/busybox-deb/busybox-static_*.deb)"
    dpkg-deb -x "$deb" "$WORK/busybox"
  fi
  install -D -m 0755 "$WORK/busybox/bin/busybox" "$dir/bin/busybox"
  for applet in sh sleep cat echo ls env mkdir rm; do ln -sf busybox "$dir/bin/$applet"; done
}
# A minimal /etc for a non-root numeric user, so tools that look the user up find a name and HOME.
etc_for() { # DIR UID NAME
  mkdir -p "$1/etc" "$1/tmp" && chmod 1777 "$1/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\n%s:x:%s:%s:%s:/tmp:/sbin/nologin\n' "$3" "$2" "$2" "$3" >"$1/etc/passwd"
  printf 'root:x:0:\n%s:x:%s:\n' "$3" "$2" >"$1/etc/group"
}

# ---- Debian base ------------------------------------------------------------------------------
# bookworm from Debian's archive, trimmed like the -slim images (no docs, man pages or locales),
# with bookworm-updates and bookworm-security enabled and applied. It is the R images' BASE_IMAGE
# and the MLflow image's base; it is never deployed by itself.
BASE_REF="localhost/rmlops/debian:bookworm-minbase"
base_image() {
  local want rootfs="$WORK/debian" t0=$SECONDS
  want="debootstrap minbase bookworm $MIRROR $SECURITY_MIRROR v1"
  step "debian base: $BASE_REF ($MIRROR)"
  if stamp_ok image-debian-base "$want" && B inspect --type image "$BASE_REF" >/dev/null 2>&1; then
    echo "up to date: Debian $(cat "$WORK/debian-version" 2>/dev/null)"
    return
  fi
  rm -rf "$rootfs"
  nice -n 10 debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -n 20 "$WORK/debootstrap.log" >&2; exit 1; }
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/rmlops-slim" <<'EOF'
# As Debian's -slim images: no documentation, man pages or translations (copyright files stay).
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$rootfs/etc/apt/apt.conf.d/90rmlops-no-recommends"
  # The point release's updates and security fixes, then no apt lists or caches in the layer.
  chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 sh -c \
    'apt-get -q -o Acquire::Retries=5 update && apt-get -q -y upgrade' >"$WORK/debian-upgrade.log" 2>&1 ||
    { tail -n 20 "$WORK/debian-upgrade.log" >&2; exit 1; }
  find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{man,info,lintian}/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/* "$rootfs"/tmp/*
  find "$rootfs/usr/share/locale" -mindepth 1 ! -name locale.alias -delete
  # The host's identity does not belong in an image: the runtime provides these files.
  : >"$rootfs/etc/resolv.conf" && : >"$rootfs/etc/hostname" && rm -f "$rootfs/etc/hosts"
  cp "$rootfs/etc/debian_version" "$WORK/debian-version"
  from_rootfs "$BASE_REF" "$rootfs" --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd '["bash"]' --label "org.opencontainers.image.version=bookworm-$(cat "$WORK/debian-version")"
  rm -rf "$rootfs"
  stamp_set image-debian-base "$want"
  echo "built in $((SECONDS - t0))s: Debian $(cat "$WORK/debian-version")"
}

# ---- checks inside the images ------------------------------------------------------------------
# Runs a command in a new container of an image, as the image's own user: the binary starts and
# its libraries load. Prints the output's first line. Usage: check_runs REF CMD...
check_runs() {
  local ref="$1" c out
  shift
  c="$(B from --pull-never "$ref")"
  out="$(B run --isolation chroot "$c" -- "$@" 2>&1)" || { B rm "$c" >/dev/null; echo "$ref: \`$*\` failed: $out" >&2; exit 1; }
  B rm "$c" >/dev/null
  echo "checked: $(head -n 1 <<<"$out")"
}
# The numeric non-root user a pod's runAsNonRoot can verify. Usage: check_user REF USER
check_user() {
  local user
  user="$(B inspect --type image --format '{{.OCIv1.Config.User}}' "$1")"
  [[ "$user" == "$2" ]] || { echo "$1: USER is '$user', expected $2" >&2; exit 1; }
}

# ---- R: the repository's Dockerfiles ----------------------------------------------------------
# What a pod relies on, inside the built image: the user, the package, /bin/sh and /bin/sleep for
# the operator's preStop, and no Python anywhere.
check_r_image() { # REF ENTRY
  check_user "$1" 10001:10001
  check_runs "$1" /bin/sh -c '
    for p in python python3 pip pip3; do if command -v "$p" >/dev/null; then echo "found $p"; exit 1; fi; done
    if ls /usr/bin/python* /usr/local/bin/python* 2>/dev/null; then echo "found a python binary"; exit 1; fi
    test -x /bin/sleep || { echo "no /bin/sleep"; exit 1; }
    test -f "/opt/rmlops/$1" || { echo "no /opt/rmlops/$1"; exit 1; }
    echo "/bin/sh and /bin/sleep present, no Python, uid $(id -u)"' sh "$2"
  check_runs "$1" Rscript -e 'suppressMessages(library(rmlops)); cat(R.version$version.string, "with rmlops", format(packageVersion("rmlops")), "\n")'
}

r_images() {
  local want files name ref t0
  # What the two Dockerfiles read: themselves, .dockerignore and the files they COPY.
  mapfile -t files < <(cd "$ROOT" && find r/Dockerfile.serve r/Dockerfile.train r/.dockerignore r/packages.txt r/DESCRIPTION \
    r/NAMESPACE r/R r/man r/inst r/src r/serve.R r/train.R -type f ! -name '*.o' ! -name '*.so')
  want="$(hash_files "${files[@]}") base=$(B inspect --type image --format '{{.FromImageID}}' "$BASE_REF")"
  for name in r-serve r-train; do
    wanted "$name" || continue
    ref="$(ref_of "$name")"
    step "$name: $ref (buildah bud -f r/Dockerfile.${name#r-} r/)"
    if stamp_ok "image-$name" "$want" && [[ -f "$IMAGES/$name.tar" ]]; then
      echo "up to date"
      continue
    fi
    t0=$SECONDS
    # --layers: the two Dockerfiles share every step up to their entrypoint script, so the second
    # build reuses the first one's layers, and a change in R/ rebuilds from that COPY onwards.
    B bud -q --layers --pull=never --isolation chroot --build-arg "BASE_IMAGE=$BASE_REF" \
      -f "$ROOT/r/Dockerfile.${name#r-}" -t "$ref" "$ROOT/r" >"$WORK/$name.log" 2>&1 ||
      { tail -n 30 "$WORK/$name.log" >&2; echo "buildah bud of r/Dockerfile.${name#r-} failed (log: $WORK/$name.log)" >&2; exit 1; }
    check_r_image "$ref" "${name#r-}.R"
    save "$name" "$ref" "$t0"
    stamp_set "image-$name" "$want"
  done
}

# ---- the documented recipe: r/Dockerfile.extend ------------------------------------------------
# docs/images.md tells users to add Debian R packages with r/Dockerfile.extend: it is built here on
# the fresh r-train image with one package, and the package must load as the image's user. The
# result is a check only (not in the index), removed afterwards.
recipe_check() {
  wanted r-train || return 0
  local base want ref="localhost/rmlops/r-train-extended:check" t0=$SECONDS
  base="$(ref_of r-train)"
  want="$(hash_files r/Dockerfile.extend) on=$(B inspect --type image --format '{{.FromImageID}}' "$base")"
  step "recipe: r/Dockerfile.extend on $base, PACKAGES=r-cran-e1071"
  if stamp_ok image-recipe "$want"; then
    echo "up to date"
    return 0
  fi
  B bud -q --pull=never --isolation chroot --build-arg "IMAGE=$base" --build-arg PACKAGES=r-cran-e1071 \
    -f "$ROOT/r/Dockerfile.extend" -t "$ref" "$ROOT/r" >"$WORK/recipe.log" 2>&1 ||
    { tail -n 30 "$WORK/recipe.log" >&2; echo "buildah bud of r/Dockerfile.extend failed (log: $WORK/recipe.log)" >&2; exit 1; }
  check_r_image "$ref" train.R
  check_runs "$ref" Rscript -e 'library(e1071); cat("e1071", format(packageVersion("e1071")), "loads\n")'
  B rmi "$ref" >/dev/null
  stamp_set image-recipe "$want"
  echo "recipe checked in $((SECONDS - t0))s"
}

# ---- controllers: Seldon's executor and operator, KServe's manager ------------------------------
# As upstream's images (distroless, WORKDIR /, the binary at the root), with the binary's glibc
# libraries from this Debian host instead of distroless. The executor serves ./openapi/ (absent
# from the 1.17.1 source: generated upstream), so the folder exists and is empty.
# Usage: binary_image NAME BINARY ENV_VAR ENTRYPOINT UID (ENV_VAR names a prebuilt binary instead)
binary_image() {
  local name="$1" var="$3" entry="$4" uid="$5" bin ref want dir t0=$SECONDS
  wanted "$name" || return 0
  ref="$(ref_of "$name")"
  bin="${!var:-$2}"
  step "$name: $ref ($bin)"
  if [[ ! -x "$bin" ]]; then
    rm -f "$IMAGES/$name.tar"
    if [[ -f "$bin.unavailable" && "$name" == kserve-controller ]]; then
      # install-kserve.sh exits 3 when the proxy refuses KServe's module; CI accepts that, and
      # the KServe scenarios say why they skip.
      echo "unavailable: $(cat "$bin.unavailable")"
      return 0
    fi
    echo "unavailable: no binary at $bin (scripts/real/install-seldon.sh or install-kserve.sh builds it, or set $var)"
    # CI builds Seldon and KServe first: a missing binary there is a failure, not a skip.
    [[ "${CI:-}" != true ]] || exit 1
    return 0
  fi
  want="$(sha256sum "$bin" | cut -c1-16) $(hash_files scripts/real/install-images.sh)"
  if stamp_ok "image-$name" "$want" && [[ -f "$IMAGES/$name.tar" ]]; then
    echo "up to date"
    return 0
  fi
  dir="$WORK/$name" && rm -rf "$dir"
  with_libs "$bin" "$dir" "/$entry"
  etc_for "$dir" "$uid" "${name%%-*}"
  if [[ "$name" == seldon-executor ]]; then mkdir -p "$dir/openapi"; fi
  from_rootfs "$ref" "$dir" --entrypoint "[\"/$entry\"]" --cmd '[]' --workingdir / --user "$uid:$uid" --env PATH=/
  rm -rf "$dir"
  check_user "$ref" "$uid:$uid"
  check_runs "$ref" "/$entry" --help
  save "$name" "$ref" "$t0"
  stamp_set "image-$name" "$want"
}

# ---- MinIO and mc -----------------------------------------------------------------------------
minio_images() {
  local name ref bin want dir t0
  for name in minio mc; do
    wanted "$name" || continue
    ref="$(ref_of "$name")"
    bin="$BIN/$name"
    step "$name: $ref ($bin)"
    if [[ ! -x "$bin" ]]; then
      echo "no binary at $bin: run scripts/real/install.sh first" >&2
      exit 1
    fi
    want="$(sha256sum "$bin" | cut -c1-16) $(hash_files scripts/real/install-images.sh)"
    if stamp_ok "image-$name" "$want" && [[ -f "$IMAGES/$name.tar" ]]; then
      echo "up to date"
      continue
    fi
    t0=$SECONDS
    dir="$WORK/$name" && rm -rf "$dir"
    with_libs "$bin" "$dir" "/usr/bin/$name"
    etc_for "$dir" 1000 "$name"
    # The provisioning Job runs a /bin/sh script around mc (lib/minio-store.ts); MinIO runs alone.
    if [[ "$name" == mc ]]; then busybox_into "$dir"; fi
    from_rootfs "$ref" "$dir" --entrypoint "[\"/usr/bin/$name\"]" --cmd '[]' --user 1000:1000 --workingdir /tmp \
      --env PATH=/usr/bin:/bin --env HOME=/tmp
    rm -rf "$dir"
    check_user "$ref" 1000:1000
    if [[ "$name" == mc ]]; then check_runs "$ref" /bin/sh -c 'mc --version && sleep 0'; else check_runs "$ref" minio --version; fi
    save "$name" "$ref" "$t0"
    stamp_set "image-$name" "$want"
  done
}

# ---- MLflow -----------------------------------------------------------------------------------
# The Debian base with Debian's python3, and a virtualenv from PyPI at /opt/mlflow holding the
# pinned mlflow and boto3 (the artifact proxy's S3 client), as the official -full image has.
# lib/mlflow-server.ts runs `mlflow server …` as uid 1000 with HOME=/tmp on a read-only root.
mlflow_image() {
  wanted mlflow || return 0
  local ref version want c etc_dir t0=$SECONDS
  ref="$(ref_of mlflow)"
  version="$(pin v.mlflow)"
  # The recipe's revision (bump it when the build below changes) rather than this script's hash:
  # editing another image's recipe must not cost a 4-minute MLflow rebuild.
  want="mlflow==$version boto3 base=$(B inspect --type image --format '{{.FromImageID}}' "$BASE_REF") recipe=1"
  step "mlflow: $ref (mlflow==$version, boto3, Debian python3)"
  if stamp_ok image-mlflow "$want" && [[ -f "$IMAGES/mlflow.tar" ]]; then
    echo "up to date"
    return 0
  fi
  # The wheels are fetched here, by this machine's pip (its certificate settings), and installed
  # in the image offline from that folder: no network and no host CA inside the build.
  local wheels="$WORK/mlflow-wheels-$version"
  if [[ ! -f "$wheels/.complete" ]]; then
    rm -rf "$wheels" && mkdir -p "$wheels"
    nice -n 10 python3 -m pip download -q --disable-pip-version-check --no-input --only-binary=:all: \
      --python-version 3.11 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform linux_x86_64 \
      -d "$wheels" "mlflow==$version" boto3
    touch "$wheels/.complete"
  fi
  c="$(B from --pull-never "$BASE_REF")"
  B run --isolation chroot -v "$wheels:/wheels:ro" "$c" -- sh -c "
    set -e
    export DEBIAN_FRONTEND=noninteractive
    apt-get -q -o Acquire::Retries=5 update >/dev/null
    apt-get -q -y install python3 python3-venv ca-certificates >/dev/null
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
    python3 -m venv /opt/mlflow
    /opt/mlflow/bin/pip install -q --disable-pip-version-check --no-input --no-index --find-links /wheels 'mlflow==$version' boto3
    /opt/mlflow/bin/pip freeze --all > /opt/mlflow/requirements.lock
    /opt/mlflow/bin/mlflow --version
    mkdir -p /mlflow && chown 1000:1000 /mlflow
  " >"$WORK/mlflow.log" 2>&1 || { B rm "$c" >/dev/null; tail -n 30 "$WORK/mlflow.log" >&2; exit 1; }
  tail -n 1 "$WORK/mlflow.log"
  etc_dir="$(B mount "$c")"
  printf 'mlflow:x:1000:1000:mlflow:/tmp:/usr/sbin/nologin\n' >>"$etc_dir/etc/passwd"
  printf 'mlflow:x:1000:\n' >>"$etc_dir/etc/group"
  B umount "$c" >/dev/null
  B config --env PATH=/opt/mlflow/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env HOME=/tmp \
    --env PYTHONDONTWRITEBYTECODE=1 --user 1000:1000 --workingdir /tmp --port 5000 --cmd '["mlflow", "server"]' "$c"
  B commit -q --rm "$c" "$ref" >/dev/null
  check_user "$ref" 1000:1000
  check_runs "$ref" sh -c 'cd /tmp && mlflow --version && python3 -c "import boto3, mlflow.server; print(\"boto3\", boto3.__version__)" && test -z "$(find /opt/mlflow -writable -print -quit)"'
  save mlflow "$ref" "$t0"
  stamp_set image-mlflow "$want"
}

# ---- build ------------------------------------------------------------------------------------
# Working containers an interrupted run left behind (this run holds the lock: none is in use).
B rm --all >/dev/null 2>&1 || true
base_image
r_images
recipe_check
binary_image seldon-executor "$BIN/seldon-executor" RMLOPS_SELDON_EXECUTOR executor 8888
binary_image seldon-operator "$BIN/seldon-operator" RMLOPS_SELDON_OPERATOR manager 8888
# Upstream's image runs as distroless's nonroot user, 65532.
binary_image kserve-controller "$BIN/kserve-manager" RMLOPS_KSERVE_MANAGER manager 65532
# The payload sink (sink/, static): lib/payload-logging.ts runs it as 65532 (PAYLOAD_SINK_UID).
binary_image payload-sink "$BIN/payload-sink" RMLOPS_PAYLOAD_SINK payload-sink 65532
minio_images
mlflow_image

# ---- index and versions -----------------------------------------------------------------------
# vfs keeps every layer as a full copy: the untagged intermediate images of --layers (already
# reused within this run, r-train on r-serve's) would add gigabytes per R source change. Only
# after a build, so a warm rerun stays a no-op.
if ((${#BUILD_SECONDS[@]} > 0)); then
  B rmi --prune >/dev/null 2>&1 || true
fi
step "images ($IMAGES; buildah store $(du -sh "$IMAGES/storage" | cut -f1))"
entries=()
for name in "${ALL[@]}"; do
  tar="$IMAGES/$name.tar"
  [[ -f "$tar" ]] || continue
  ref="$(ref_of "$name")"
  id="$(B inspect --type image --format '{{.FromImageID}}' "$ref" 2>/dev/null || echo '?')"
  bytes="$(stat -c %s "$tar")"
  built="${BUILD_SECONDS[$name]:-}"
  printf '%-18s %-52s sha256:%.12s %5d MB%s\n' "$name" "$ref" "$id" "$((bytes / 1000000))" "${built:+ (built in ${built}s)}"
  entries+=("$ref" "$tar" "$bytes")
done
node -e '
  const a = process.argv.slice(2), out = [];
  for (let i = 0; i < a.length; i += 3) out.push({ ref: a[i], archive: a[i + 1], bytes: Number(a[i + 2]) });
  const fs = require("fs");
  fs.writeFileSync(process.argv[1] + ".tmp", JSON.stringify(out, null, 2) + "\n");
  fs.renameSync(process.argv[1] + ".tmp", process.argv[1]);
' "$IMAGES/index.json" "${entries[@]}"
echo "index: $IMAGES/index.json ($((${#entries[@]} / 3)) images; import with: ctr -n k8s.io images import ARCHIVE)"
echo "buildah: $(buildah --version) (t+$((SECONDS - START))s)"
