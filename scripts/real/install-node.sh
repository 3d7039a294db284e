#!/usr/bin/env bash
# Builds the single node that `npm run node:up` runs (e2e/node/), into the cache folder shared with
# the other install scripts (${RMLOPS_CACHE:-<repo>/.cache}):
#   bin/kubelet, kube-proxy, kube-scheduler, kube-controller-manager
#                       the same k8s.io/kubernetes version and wrapper module (e2e/go/kube) as the
#                       API server of install-cluster.sh, which builds kube-apiserver and kubectl
#   bin/coredns         CoreDNS, the cluster DNS
#   bin/kube-router     kube-router, run with --run-firewall only: the NetworkPolicy enforcer of
#                       the test node (see docs/real-node.md for why this one, and why test-only)
#   node/images/*.tar   docker-archive images that the node imports into containerd: pause (built
#                       from build/pause/linux/pause.c of the k8s.io/kubernetes module), CoreDNS,
#                       and netcheck (Debian's static busybox: the scenarios' client pods)
# The pins are versions.json "node". Host packages come from e2e/node/packages.txt (.ci/run
# installs them). Idempotent: each build writes a stamp of its inputs; a rerun with the same inputs
# only prints versions. Compiles run under `nice` because the build machines are shared.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

kube_pins
COREDNS_VERSION="$(pin v.node.coredns)"
KUBE_ROUTER_VERSION="$(pin v.node.kubeRouter)"
PAUSE_VERSION="$(pin v.node.pause)"
IMAGES="$CACHE/node/images"
mkdir -p "$IMAGES"

require_go "the node"
for tool in gcc tar busybox; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool is not installed: the node cannot be built (host packages: e2e/node/packages.txt)" >&2
    exit 1
  fi
done

# ---- kubelet, kube-proxy, kube-scheduler, kube-controller-manager ----------------------------
NODE_CMDS=(kubelet kube-proxy kube-scheduler kube-controller-manager)
want="$(kube_want)"
step "${NODE_CMDS[*]} $KUBE_VERSION"
all_built() { local c; for c in "${NODE_CMDS[@]}"; do [[ -x "$BIN/$c" ]] || return 1; done; }
if stamp_ok kube-node "$want" && all_built; then
  echo "up to date"
else
  # CGO off, as for the API server: the release binaries are static too.
  (cd "$KUBE_MODULE" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "$(kube_ldflags)" \
    -o "$BIN/" "${NODE_CMDS[@]/#/k8s.io/kubernetes/cmd/}")
  stamp_set kube-node "$want"
fi

# ---- CoreDNS, kube-router ---------------------------------------------------------------------
# go_install NAME MODULE VERSION [LDFLAGS]: a static `go install` of MODULE@VERSION into bin/NAME.
go_install() {
  local name="$1" mod="$2" version="$3" ldflags="${4:-}"
  local want="$mod@$version $GO_VERSION $ldflags"
  step "$name $version"
  if stamp_ok "$name" "$want" && [[ -x "$BIN/$name" ]]; then
    echo "up to date"
    return
  fi
  CGO_ENABLED=0 GOBIN="$BIN" nice -n 10 go install -trimpath -ldflags "-s -w $ldflags" "$mod@$version"
  stamp_set "$name" "$want"
}
# CoreDNS's Makefile stamps its git commit the same way; the version itself is a constant.
go_install coredns github.com/coredns/coredns "$COREDNS_VERSION"
# kube-router's `--version` reads these two variables (its Makefile sets them).
go_install kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router "$KUBE_ROUTER_VERSION" \
  "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION -X github.com/cloudnativelabs/kube-router/v2/pkg/version.BuildDate=pinned"

# ---- images -----------------------------------------------------------------------------------
# docker_archive REF ROOTFS OUT CONFIG_JSON: one-layer docker-archive of the ROOTFS folder, tagged
# REF, that `ctr images import` reads. Deterministic: fixed owner, mode bits and times in the layer,
# so the same inputs give the same image ID.
docker_archive() {
  local ref="$1" rootfs="$2" out="$3" config="$4" work layer_sha config_sha
  work="$(mktemp -d)"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$rootfs" -cf "$work/layer.tar" .
  layer_sha="$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
  node -e '
    const [config, diff] = process.argv.slice(1);
    const c = { architecture: "amd64", os: "linux", created: "1970-01-01T00:00:00Z",
      config: JSON.parse(config), rootfs: { type: "layers", diff_ids: ["sha256:" + diff] } };
    process.stdout.write(JSON.stringify(c));' "$config" "$layer_sha" >"$work/config.json"
  config_sha="$(sha256sum "$work/config.json" | cut -d' ' -f1)"
  mkdir "$work/out" "$work/out/$layer_sha"
  mv "$work/layer.tar" "$work/out/$layer_sha/layer.tar"
  mv "$work/config.json" "$work/out/$config_sha.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' \
    "$config_sha" "$ref" "$layer_sha" >"$work/out/manifest.json"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/out" -cf "$out.tmp" .
  mv "$out.tmp" "$out"
  rm -rf "$work"
}
# image NAME REF CONFIG_JSON STAMP_INPUTS FILL: rebuilds $IMAGES/NAME.tar when STAMP_INPUTS change;
# FILL is a function that fills the root filesystem folder given as its argument.
image() {
  local name="$1" ref="$2" config="$3" inputs="$4" fill="$5" rootfs
  local want="$ref $config $inputs"
  step "image $ref"
  if stamp_ok "image-$name" "$want" && [[ -f "$IMAGES/$name.tar" ]]; then
    echo "up to date"
    return
  fi
  rootfs="$(mktemp -d)"
  "$fill" "$rootfs"
  docker_archive "$ref" "$rootfs" "$IMAGES/$name.tar" "$config"
  rm -rf "$rootfs"
  stamp_set "image-$name" "$want"
}

# pause: the sandbox container of every pod, from the source of the same Kubernetes version.
PAUSE_SRC="$(cd "$KUBE_MODULE" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
fill_pause() {
  mkdir -p "$1/bin"
  gcc -Os -static -Wall -Werror -DVERSION="v$PAUSE_VERSION-$KUBE_VERSION" -o "$1/bin/pause" "$PAUSE_SRC"
  strip "$1/bin/pause"
}
image pause "localhost/pause:$PAUSE_VERSION" '{"Entrypoint":["/bin/pause"],"User":"65535:65535"}' \
  "$(sha256sum "$PAUSE_SRC" | cut -c1-16) $(gcc -dumpfullversion)" fill_pause

fill_coredns() { mkdir -p "$1/bin"; cp "$BIN/coredns" "$1/bin/coredns"; }
image coredns "localhost/coredns:$COREDNS_VERSION" '{"Entrypoint":["/bin/coredns"],"User":"65532:65532"}' \
  "$(sha256sum "$BIN/coredns" | cut -c1-16)" fill_coredns

# netcheck: the scenarios' client pods (wget, nc, nslookup). Only a static busybox and its applet
# links, so it runs as any user with a read-only root filesystem.
BUSYBOX="$(command -v busybox)"
NETCHECK_REF="localhost/rmlops/netcheck:$(dpkg-query -W -f='${Version}' busybox-static | sed 's/^[0-9]*://' | tr '+~' '--')"
fill_netcheck() {
  local a
  mkdir -p "$1/bin" "$1/tmp"
  chmod 1777 "$1/tmp"
  cp "$BUSYBOX" "$1/bin/busybox"
  for a in $("$BUSYBOX" --list); do [[ "$a" == busybox ]] || ln -s busybox "$1/bin/$a"; done
}
image netcheck "$NETCHECK_REF" '{"Entrypoint":["/bin/sh"],"User":"65534:65534","Env":["PATH=/bin"]}' \
  "$(sha256sum "$BUSYBOX" | cut -c1-16)" fill_netcheck
# The harness reads the refs from here (netcheck's tag follows Debian's busybox version).
node -e '
  const [dir, ...refs] = process.argv.slice(1);
  const names = ["pause", "coredns", "netcheck"];
  const out = names.map((n, i) => ({ name: n, ref: refs[i], archive: `${dir}/${n}.tar`,
    bytes: require("fs").statSync(`${dir}/${n}.tar`).size }));
  require("fs").writeFileSync(`${dir}/index.json`, JSON.stringify(out, null, 2) + "\n");' \
  "$IMAGES" "localhost/pause:$PAUSE_VERSION" "localhost/coredns:$COREDNS_VERSION" "$NETCHECK_REF"

# ---- versions ---------------------------------------------------------------------------------
step "versions"
for c in "${NODE_CMDS[@]}"; do echo "$c: $("$BIN/$c" --version 2>&1 | head -n 1)"; done
echo "coredns: $("$BIN/coredns" -version 2>&1 | head -n 1)"
echo "kube-router: $("$BIN/kube-router" --version 2>&1 | head -n 1)"
for p in containerd runc containernetworking-plugins iptables ipset; do
  echo "$p (Debian): $(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo 'not installed: e2e/node/packages.txt')"
done
node -e 'for (const i of require(process.argv[1])) console.log(`image ${i.ref}: ${i.bytes} bytes`)' "$IMAGES/index.json"
echo "go: $GO_VERSION; cache: $CACHE (t+$((SECONDS - START))s)"
